"""Is the clip fit to train on? Figures that decide it, before training, with a notice for each failure.

A Gaussian head is fitted to many views of one head placed by the tracked poses. It renders a blurred,
doubled or ghosted face when those views disagree or are too few:
- too few training frames (`min_train_frames`; the demo has 450): the canonical head and the deformation
  overfit the few views, and views of one pose are rare;
- registration: the face model cannot explain the landmarks (reprojection RMSE over `max_reproj` face
  widths in the worst tenth of the frames): the poses are off by about that much, and the same face
  part lands in different places of the head (two pairs of eyes);
- registration that worsens with the head's turn (rank correlation of the error with the out-of-plane
  angle from the median pose over `max_turn_r`, and the most turned tenth of the frames erring over
  twice the less turned half): the tracker's out-of-plane
  poses are off (e.g. the 2D jaw contour slides along the turning face), the ghosting the issue saw where
  the head leans furthest.
Parsing that labels background as head is the parse_faces step's own notice (face/parsing.json).

Output: results/D/fit/trainable.json (figures) and the step's notices. CLI:
  python -m gtalker.fit.trainable --track track.npz --landmarks landmarks.npz --split split.json
      --out trainable.json --notices notices.json [--min-train-frames 250 --max-reproj 0.03 --max-turn-r 0.5]
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

import numpy as np

from gtalker.common import read_json, reports_input_errors, setup_logging, write_json
from gtalker.face.landmarks import load_landmark_track
from gtalker.fit.tracker import load_head_fit
from gtalker.notices import Notices
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.fit.trainable")

MIN_TRAIN_FRAMES = 250   # 10 s at 25 fps
MAX_REPROJ = 0.03        # reprojection RMSE in face widths, 90th percentile of the frames
MAX_TURN_R = 0.5         # rank correlation of the reprojection error with the out-of-plane angle


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (0 when either is constant)."""
    ra, rb = np.argsort(np.argsort(a)).astype(float), np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def figures(track, lms: np.ndarray, train: list[int]) -> dict:
    """The figures of one clip: training frames, reprojection error in face widths, its link to the turn."""
    width = np.linalg.norm(lms[:, 16] - lms[:, 0], axis=1)
    err = np.asarray(track.reproj_err, np.float64) / np.maximum(width, 1.0)
    used = np.isfinite(err)
    euler = np.asarray(track.euler, np.float64)
    turn = np.degrees(np.hypot(euler[:, 0] - np.median(euler[used, 0]), euler[:, 1] - np.median(euler[used, 1])))
    e, t = err[used], turn[used]
    out = {"train_frames": len(train), "fitted_frames": int(used.sum()),
           "reproj_face_widths_median": float(np.median(e)) if len(e) else float("nan"),
           "reproj_face_widths_p90": float(np.percentile(e, 90)) if len(e) else float("nan"),
           "turn_deg_p90": float(np.percentile(t, 90)) if len(t) else 0.0,
           "reproj_turn_rank_r": rank_correlation(t, e) if len(e) > 2 else 0.0}
    ratio = 1.0
    if len(e) >= 10:  # the error of the most turned tenth of the frames against the less turned half
        turned, front = e[t >= np.percentile(t, 90)], e[t <= np.median(t)]
        ratio = float(np.median(turned) / max(np.median(front), 1e-9))
    out["reproj_turned_over_front"] = ratio
    return out


@dataclass
class TrainableConfig:
    """Limits of the check (config section `trainable`); each field is a CLI flag."""

    min_train_frames: int = MIN_TRAIN_FRAMES
    max_reproj: float = MAX_REPROJ
    max_turn_r: float = MAX_TURN_R


# what posed the head (--cameras): the notices name it
CAMERA_SOURCES = {"face_model": "the face model", "landmarks": "the landmark cameras' rigid template"}


def check(fig: dict, notices: Notices, min_train_frames: int = MIN_TRAIN_FRAMES, max_reproj: float = MAX_REPROJ,
          max_turn_r: float = MAX_TURN_R, cameras: str = "face_model") -> bool:
    """Record a notice for each figure past its limit; True when none is. For the landmark cameras the
    clip's length is left to the face-model check (the same clip: one notice)."""
    n0 = len(notices.items)
    if fig["train_frames"] < min_train_frames and cameras == "face_model":
        notices.warn("clip_short", f"only {fig['train_frames']} training frames (under {min_train_frames}): the head "
                     "model sees too few views and overfits them; expect a soft or ghosted face on new poses. "
                     "Use a longer clip", train_frames=fig["train_frames"], min_train_frames=min_train_frames)
    if fig["reproj_face_widths_p90"] > max_reproj:
        notices.warn("registration_error", f"{CAMERA_SOURCES[cameras]} misses the landmarks by "
                     f"{100 * fig['reproj_face_widths_p90']:.1f}% of the face width in the worst tenth of the frames "
                     f"(over {100 * max_reproj:.0f}%): the tracked poses disagree by about that much, and the head "
                     "model fits the views at different places (a blurred or doubled face)",
                     reproj_face_widths_p90=round(fig["reproj_face_widths_p90"], 4))
    if fig["reproj_turn_rank_r"] > max_turn_r and fig["reproj_turned_over_front"] > 2.0:
        notices.warn("registration_turn", f"the tracking error grows with the head's out-of-plane turn (rank r "
                     f"{fig['reproj_turn_rank_r']:.2f}; the most turned tenth of the frames err "
                     f"{fig['reproj_turned_over_front']:.1f}x the less turned half; turns up to "
                     f"{fig['turn_deg_p90']:.0f} deg): expect ghosting where the head turns most",
                     reproj_turn_rank_r=round(fig["reproj_turn_rank_r"], 3))
    return len(notices.items) == n0


@reports_input_errors("gtalker.fit.trainable")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--track", required=True)
    ap.add_argument("--landmarks", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--notices", default=None)
    ap.add_argument("--cameras", choices=sorted(CAMERA_SOURCES), default="face_model",
                    help="what posed the track: the face-model fit or the landmark cameras (named in the notices)")
    add_flags(ap, TrainableConfig)
    args = ap.parse_args(argv)
    setup_logging("gtalker.fit.trainable")
    cfg = from_args(args, TrainableConfig)
    fig = figures(load_head_fit(args.track), load_landmark_track(args.landmarks).lms, read_json(args.split)["train"])
    step = "check_trainable" if args.cameras == "face_model" else "check_trainable_landmarks"
    notices = Notices(step, log)
    fig["ok"] = check(fig, notices, cfg.min_train_frames, cfg.max_reproj, cfg.max_turn_r, args.cameras)
    log.info("trainable: %s", fig)
    write_json(args.out, fig)
    notices.write(args.notices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
