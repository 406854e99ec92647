"""Face parsing per frame: parsing/000000.png (0 background, 1 head, 2 neck, 3 torso) and
parsing_fine/000000.png (CelebAMask-HQ's 19 class ids).

Backends:
- heuristic (default, no weights; gtalker.face.heuristic). Its fine classes come from the landmarks: skin
  (face polygon), hair (rest of the head), brows, eyes, nose, mouth, lips, neck, cloth.
- bisenet: the reference's 19-class network (gtalker.face.bisenet), weights "79999_iter.pth".

CLI: python -m gtalker.face.parsing --frames DIR --landmarks landmarks.npz --out parsing/ --out-fine
     parsing_fine/ [--backend heuristic|bisenet --weights resources/79999_iter.pth ...]
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from tqdm import tqdm

from gtalker.common import InputError, atomic_path, reports_input_errors, setup_logging, write_json
from gtalker.face.heuristic import HeuristicConfig, HeuristicParser, parse_stream
from gtalker.face.landmarks import load_landmark_track
from gtalker.face.parsing_quality import REACH, head_beyond_hull, torso_above_nose
from gtalker.notices import Notices
from gtalker.face.writer import ImageWriter
from gtalker.face.regions import face_frame, face_polygon, fill_polygon
from gtalker.io.frames import frame_path, frame_paths, read_frame, read_image
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.face.parsing")

BACKGROUND, HEAD, NECK, TORSO = 0, 1, 2, 3
FAR_MEAN, FAR_WORST = 0.005, 0.02  # head label beyond REACH face heights of the face: mean / worst frame
# CelebAMask-HQ ids used for the landmark-drawn fine classes
SKIN, L_BROW, R_BROW, L_EYE, R_EYE, NOSE, MOUTH, U_LIP, L_LIP, FINE_NECK, CLOTH, HAIR = \
    1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 16, 17


def read_labels(folder: str | Path, index: int) -> np.ndarray:
    """Label map of frame `index` from a parsing folder."""
    return read_image(frame_path(folder, index, ".png"), cv2.IMREAD_GRAYSCALE)


def fine_from_landmarks(coarse: np.ndarray, lms: np.ndarray) -> np.ndarray:
    """19-class map from the 4-class map plus landmark polygons (face parts inside the head only)."""
    shape = coarse.shape
    head = coarse == HEAD
    fine = np.zeros(shape, np.uint8)
    fine[coarse == NECK] = FINE_NECK
    fine[coarse == TORSO] = CLOTH
    fine[head] = HAIR
    fine[head & fill_polygon(shape, face_polygon(lms, 0.25))] = SKIN
    thick = max(2, int(round(0.04 * face_frame(lms).width)))
    parts = np.zeros(shape, np.uint8)
    for ids, label in ((range(17, 22), L_BROW), (range(22, 27), R_BROW)):
        cv2.polylines(parts, [np.round(lms[list(ids)]).astype(np.int32)], False, label, thick)
    nose = np.concatenate([lms[27:28] + [-0.25 * thick, 0], lms[31:36], lms[27:28] + [0.25 * thick, 0]])
    for poly, label in ((nose, NOSE), (lms[36:42], L_EYE), (lms[42:48], R_EYE),
                        (np.concatenate([lms[48:55], lms[64:59:-1]]), U_LIP),
                        (np.concatenate([lms[54:60], lms[48:49], lms[60:61], lms[67:63:-1]]), L_LIP),
                        (lms[60:68], MOUTH)):
        parts[fill_polygon(shape, poly)] = label
    fine[head & (parts > 0)] = parts[head & (parts > 0)]
    return fine


def heuristic_labels(frames_dir: str, lms: np.ndarray,
                     parser: HeuristicParser) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(coarse, fine) label maps per frame from the heuristic parser."""
    for i, coarse in enumerate(parse_stream(lambda k: read_frame(frames_dir, k), lms, parser=parser)):
        yield coarse, fine_from_landmarks(coarse, lms[i])


def check_parsing(figures: dict, notices: Notices, cfg: HeuristicConfig | None) -> None:
    """Notices about the parsing that change the result: the background moved (per-frame cues were used)
    and head labels far from the face (background taken for head: the head model learns it)."""
    if figures.get("background_static_share", 1.0) < (cfg or HeuristicConfig()).static_min:
        notices.warn("parsing_moving_background",
                     f"face parsing: only {100 * figures['background_static_share']:.0f}% of the background "
                     "stays still, so the static-background cue was left out there and head and body were "
                     "segmented from each frame's colours and the head shape learnt over the video (less "
                     "sure at the hair's edge than with a still background)",
                     static_share=round(figures["background_static_share"], 3))
    far, worst = figures["head_beyond_hull_mean"], figures["head_beyond_hull_max"]
    if far > FAR_MEAN or worst > FAR_WORST:
        notices.warn("parsing_head_far_from_face",
                     f"face parsing: {100 * far:.1f}% of the head label (worst frame "
                     f"{figures['head_beyond_hull_worst_frame']}: {100 * worst:.1f}%) lies farther than {REACH} face heights from the face's landmarks, likely "
                     "background or body taken for head; the head model learns it as head (a blurred, doubled or "
                     "ghosted face). Check face/parsing, or use parsing.backend: bisenet",
                     head_beyond_hull_mean=round(far, 4), head_beyond_hull_max=round(worst, 4))


def bisenet_labels(frames_dir: str, n: int, weights_path: str, size: int, batch: int,
                   device_spec: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(coarse, fine) label maps per frame from BiSeNet, run in batches."""
    import torch

    from gtalker.common import get_device
    from gtalker.face.bisenet import TO_COARSE, load_bisenet, parse_batch

    device = get_device(device_spec)
    net = load_bisenet(weights_path, device)
    if device.type == "cpu":
        torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    for start in range(0, n, batch):
        frames = [read_frame(frames_dir, i) for i in range(start, min(n, start + batch))]
        for fine in parse_batch(net, frames, size, device):
            yield TO_COARSE[fine], fine


@dataclass
class BisenetConfig:
    """Settings of the BiSeNet parser (config section `parsing.bisenet`); each field is a CLI flag."""

    weights: str = "resources/79999_iter.pth"  # 79999_iter.pth (rule download_bisenet_weights)
    size: int = 512                            # network input size
    batch: int = 4


def check_labels(coarse: np.ndarray, index: int) -> None:
    """Log when a frame has no head pixels (a wrong output must not pass silently)."""
    if not (coarse == HEAD).any():
        log.warning("frame %d: parsing found no head pixels", index)


def parse_video(frames_dir: str, landmarks: str, out: str, out_fine: str, backend: str = "heuristic",
                cfg: HeuristicConfig | None = None, weights_path: str = "resources/79999_iter.pth",
                size: int = 512, batch: int = 4, device: str = "auto") -> dict:
    """Write coarse and fine label maps for every frame; returns counts for the log."""
    paths = frame_paths(frames_dir)
    track = load_landmark_track(landmarks)
    n = len(paths)
    if n == 0:
        raise InputError(f"{frames_dir}: no frames; rerun the ingest rules")
    if len(track.lms) != n:
        raise InputError(f"{landmarks}: {len(track.lms)} frames of landmarks but {n} frames in {frames_dir}; "
                         "rerun rule detect_landmarks")
    parser = None
    if backend == "heuristic":
        parser = HeuristicParser(cfg or HeuristicConfig())
        stream = heuristic_labels(frames_dir, track.lms, parser)
    elif backend == "bisenet":
        stream = bisenet_labels(frames_dir, n, weights_path, size, batch, device)
    else:
        raise InputError(f"parsing.backend '{backend}': unknown; use heuristic or bisenet")
    empty = 0
    head_frac = 0.0
    far, above = np.zeros(n), np.zeros(n)
    with atomic_path(out, is_dir=True) as tmp, atomic_path(out_fine, is_dir=True) as tmp_fine, \
            ImageWriter() as writer:
        for i, (coarse, fine) in enumerate(tqdm(stream, total=n, desc=f"parsing ({backend})", file=sys.stderr,
                                                mininterval=2.0)):
            check_labels(coarse, i)
            empty += int(not (coarse == HEAD).any())
            head_frac += float((coarse == HEAD).mean())
            far[i], above[i] = head_beyond_hull(coarse, track.lms[i]), torso_above_nose(coarse, track.lms[i])
            writer.put(frame_path(tmp, i, ".png"), coarse)
            writer.put(frame_path(tmp_fine, i, ".png"), fine)
        if empty == n:
            raise InputError(f"{frames_dir}: parsing found no head in any frame; check the video and landmarks")
    stats = {"frames": n, "frames_without_head": empty, "mean_head_fraction": head_frac / n,
             "head_beyond_hull_mean": float(far.mean()), "head_beyond_hull_max": float(far.max()),
             "head_beyond_hull_worst_frame": int(far.argmax()), "torso_above_nose_mean": float(above.mean()),
             "torso_above_nose_max": float(above.max())}
    if parser is not None:
        stats["background_static_share"] = parser.static_share
    return stats


@reports_input_errors("gtalker.face.parsing")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--landmarks", required=True)
    ap.add_argument("--out", required=True, help="folder of 4-class label PNGs")
    ap.add_argument("--out-fine", required=True, help="folder of 19-class label PNGs")
    ap.add_argument("--backend", required=True, choices=["heuristic", "bisenet"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--report", default=None, help="write the figures (JSON) here")
    ap.add_argument("--notices", default=None, help="write what the step noticed here (gtalker.notices)")
    add_flags(ap, HeuristicConfig)
    add_flags(ap, BisenetConfig)
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.parsing")
    cfg, net = from_args(args, HeuristicConfig), from_args(args, BisenetConfig)
    stats = parse_video(args.frames, args.landmarks, args.out, args.out_fine, args.backend, cfg,
                        net.weights, net.size, net.batch, args.device)
    log.info("parsing: %s", stats)
    notices = Notices("parse_faces", log)
    check_parsing(stats, notices, cfg if args.backend == "heuristic" else None)
    if args.report:
        write_json(args.report, stats)
    notices.write(args.notices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
