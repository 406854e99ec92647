"""Eye blinks from the landmarks: eye aspect ratio (EAR), normalised per video to [0, 1] (1 = closed).

EAR of an eye with points p1..p6 (iBUG 36-41 / 42-47) = (|p2-p6| + |p3-p5|) / (2 |p1-p4|), averaged over
both eyes. Per video, 'open' is the `open_percentile` of the EAR and 'closed' the `closed_percentile`,
but never above `max_closed_ratio` x open (so a video without blinks does not stretch noise to 0..1).
blink = clip((open - EAR) / (open - closed), 0, 1).

Outputs: blinks.npy float32 [N]; au.csv with columns frame,AU45_r where AU45_r = 2 x blink (OpenFace's
0..5 intensity scale; the reference reads clip(AU45_r, 0, 2) / 2, which gives back the blink value).

CLI: python -m gtalker.face.blinks --landmarks landmarks.npz --out blinks.npy --au au.csv
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

import numpy as np

from gtalker.common import atomic_path, reports_input_errors, setup_logging
from gtalker.face.landmarks import load_landmark_track
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.face.blinks")

AU45_SCALE = 2.0


@dataclass
class BlinkConfig:
    """Settings of the blink signal (config section `blinks`); each field is a CLI flag."""

    open_percentile: float = 80.0    # eye aspect ratio percentile taken as fully open
    closed_percentile: float = 1.0   # ... and as fully closed
    max_closed_ratio: float = 0.6    # the closed level is at most this share of the open one


def eye_aspect_ratio(lms: np.ndarray) -> np.ndarray:
    """Mean EAR of both eyes per frame, from landmarks [N,68,2]."""
    lms = np.asarray(lms, np.float64)
    ears = []
    for s in (36, 42):
        p = lms[:, s:s + 6]
        vertical = np.linalg.norm(p[:, 1] - p[:, 5], axis=1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=1)
        horizontal = 2 * np.linalg.norm(p[:, 0] - p[:, 3], axis=1)
        ears.append(vertical / np.maximum(horizontal, 1e-6))
    return np.mean(ears, axis=0)


def normalise(ear: np.ndarray, cfg: BlinkConfig | None = None) -> np.ndarray:
    """Blink value per frame in [0, 1] (1 = eyes closed) from the EAR."""
    cfg = cfg or BlinkConfig()
    ear = np.asarray(ear, np.float64)
    open_ = float(np.percentile(ear, cfg.open_percentile))
    closed = min(float(np.percentile(ear, cfg.closed_percentile)), cfg.max_closed_ratio * open_)
    if open_ - closed <= 1e-9:
        return np.zeros(len(ear), np.float32)
    return np.clip((open_ - ear) / (open_ - closed), 0.0, 1.0).astype(np.float32)


def write_au_csv(path: str, blinks: np.ndarray) -> None:
    """au.csv with columns frame,AU45_r (0-based frames)."""
    lines = ["frame,AU45_r"] + [f"{i},{AU45_SCALE * b:.4f}" for i, b in enumerate(blinks)]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


@reports_input_errors("gtalker.face.blinks")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--landmarks", required=True)
    ap.add_argument("--out", required=True, help="blinks.npy")
    ap.add_argument("--au", required=True, help="au.csv")
    add_flags(ap, BlinkConfig)
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.blinks")
    track = load_landmark_track(args.landmarks)
    blinks = normalise(eye_aspect_ratio(track.lms), from_args(args, BlinkConfig))
    with atomic_path(args.out) as tmp:
        np.save(tmp, blinks)
    write_au_csv(args.au, blinks)
    log.info("blinks: %d frames with eyes more than half closed", int((blinks > 0.5).sum()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
