"""Static background image of a static-camera video.

Method (method.md §1): for every pixel, take a frame in which that pixel is farthest from any foreground
pixel; fill the pixels never far enough from the foreground from the nearest filled pixel. Streaming: one
pass keeps, per pixel, the best distance so far and the colour seen then.

Output: bc.jpg (CONTRACTS.md). CLI:
    python -m gtalker.face.background --frames DIR --parsing DIR --out bc.jpg [--stride 1 --min-dist 5]
"""

from __future__ import annotations

import argparse
import logging
import sys

import cv2
import numpy as np
from tqdm import tqdm

from gtalker.common import InputError, atomic_path, reports_input_errors, setup_logging
from gtalker.io.frames import frame_path, frame_paths, read_image, write_image

log = logging.getLogger("gtalker.face.background")


def distance_to_foreground(fg: np.ndarray) -> np.ndarray:
    """Euclidean distance (px) of every pixel to the nearest foreground pixel (0 on the foreground)."""
    if not fg.any():
        return np.full(fg.shape, float(max(fg.shape)), np.float32)
    return cv2.distanceTransform((~fg).astype(np.uint8), cv2.DIST_L2, 5)


def fill_from_nearest(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Copy of img where every unknown pixel takes the colour of the nearest known pixel."""
    if known.all() or not known.any():
        return img.copy()
    _, labels = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(known)
    # labels number the known (zero) pixels in row-major scan order, starting at 1
    order = np.zeros(labels.max() + 1, np.int64)
    order[1:len(ys) + 1] = np.arange(len(ys))
    src = order[labels]
    out = img.copy()
    unknown = ~known
    out[unknown] = img[ys[src[unknown]], xs[src[unknown]]]
    return out


class FarthestBackground:
    """Streaming per-pixel 'farthest from the foreground' background estimate."""

    def __init__(self, height: int, width: int) -> None:
        self.best_dist = np.full((height, width), -1.0, np.float32)
        self.best = np.zeros((height, width, 3), np.uint8)
        self.count = 0

    def update(self, img: np.ndarray, fg: np.ndarray) -> None:
        """Account for one frame and its boolean foreground mask."""
        if img.shape[:2] != self.best_dist.shape or fg.shape != self.best_dist.shape:
            raise InputError(f"frame/mask size {img.shape[:2]}/{fg.shape} differs from {self.best_dist.shape}")
        dist = distance_to_foreground(fg)
        better = dist > self.best_dist
        self.best_dist[better] = dist[better]
        self.best[better] = img[better]
        self.count += 1

    def known(self, min_dist: float) -> np.ndarray:
        """Pixels seen at least min_dist px away from the foreground in some frame."""
        return self.best_dist >= min_dist

    def result(self, min_dist: float = 5.0) -> np.ndarray:
        """The background image, pixels closer than min_dist filled from the nearest known pixel."""
        if self.count == 0:
            raise InputError("no frames were given to the background model")
        return fill_from_nearest(self.best, self.known(min_dist))


def foreground_from_parsing(labels: np.ndarray) -> np.ndarray:
    """Foreground = every non-background label (head, neck, torso)."""
    return labels > 0


def extract_background(frames_dir: str, parsing_dir: str, stride: int = 1, min_dist: float = 5.0) -> np.ndarray:
    """bc image from the frames and their parsing (every `stride`-th frame)."""
    paths = frame_paths(frames_dir)
    if not paths:
        raise InputError(f"{frames_dir}: no frames")
    model: FarthestBackground | None = None
    for p in tqdm(paths[::stride], desc="background", file=sys.stderr, mininterval=2.0):
        idx = int(p.stem)
        img = read_image(p)
        labels = read_image(frame_path(parsing_dir, idx, ".png"), cv2.IMREAD_GRAYSCALE)
        if model is None:
            model = FarthestBackground(*img.shape[:2])
        model.update(img, foreground_from_parsing(labels))
    assert model is not None
    known = model.known(min_dist)
    frac = float(known.mean())
    log.info("background: %.1f%% of pixels seen away from the person, rest filled from the nearest",
             100 * frac)
    if frac < 0.05:
        log.warning("background: almost every pixel is always covered by the person (%.1f%% seen); "
                    "bc.jpg is mostly filled in", 100 * frac)
    return model.result(min_dist)


@reports_input_errors("gtalker.face.background")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--parsing", required=True, help="label maps 000000.png ... (0 = background)")
    ap.add_argument("--out", required=True, help="bc.jpg")
    ap.add_argument("--stride", type=int, default=1, help="use every k-th frame")
    ap.add_argument("--min-dist", type=float, default=5.0, help="px from the foreground to trust a pixel")
    ap.add_argument("--jpeg-quality", type=int, default=95)
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.background")
    bg = extract_background(args.frames, args.parsing, args.stride, args.min_dist)
    with atomic_path(args.out) as tmp:
        write_image(tmp, bg, args.jpeg_quality)
    return 0


if __name__ == "__main__":
    sys.exit(main())
