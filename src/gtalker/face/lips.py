"""Lip boxes for the lip loss: per frame, the square of side max(w, h) centred on the box of the outer
lip landmarks (48-59), clipped to the image. Output: lips.npy int32 [N,4] (x0, y0, x1, y1), x1/y1
exclusive.

CLI: python -m gtalker.face.lips --landmarks landmarks.npz --frames-json frames.json --out lips.npy
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

from gtalker.common import InputError, atomic_path, read_json, reports_input_errors, setup_logging
from gtalker.face.landmarks import load_landmark_track

log = logging.getLogger("gtalker.face.lips")


def lip_boxes(lms: np.ndarray, height: int, width: int) -> np.ndarray:
    """Square lip boxes [N,4] (x0, y0, x1, y1) from landmarks [N,68,2]."""
    lips = np.asarray(lms, np.float64)[:, 48:60]
    lo, hi = lips.min(axis=1), lips.max(axis=1)
    centre = (lo + hi) / 2
    half = np.ceil((hi - lo).max(axis=1) / 2)[:, None]
    x0y0 = np.floor(centre - half)
    x1y1 = np.ceil(centre + half) + 1
    boxes = np.concatenate([x0y0, x1y1], axis=1)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    return boxes.astype(np.int32)


@reports_input_errors("gtalker.face.lips", KeyError)
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--landmarks", required=True)
    ap.add_argument("--frames-json", required=True, help="ingest frames.json (gives the frame size)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.lips")
    size = int(read_json(args.frames_json)["size"])
    boxes = lip_boxes(load_landmark_track(args.landmarks).lms, size, size)
    empty = np.nonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))[0]
    if len(empty):
        raise InputError(f"{args.landmarks}: lip boxes outside the image in frames {empty[:20].tolist()}")
    with atomic_path(args.out) as tmp:
        np.save(tmp, boxes)
    log.info("lip boxes: mean side %.1f px", float(np.mean(boxes[:, 2] - boxes[:, 0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
