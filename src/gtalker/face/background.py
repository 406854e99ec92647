"""Static background image of a static-camera video, and how far the video is from one.

Method (method.md §1): for every pixel, take a frame in which that pixel is farthest from any foreground
pixel; fill the pixels never far enough from the foreground from the nearest filled pixel. Streaming: one
pass keeps, per pixel, the best distance so far and the colour seen then.

The same pass tracks the camera over the background, a second one compares every frame's background with
the static image (gtalker.face.motion). Above the thresholds the background counts as moving: a notice
names the figures and, with `--mode auto` (default) or `per_frame`, composite_torso puts each frame's own
background behind its torso instead of the static image (filled in from around where the person is).
Global-motion stabilisation is not used: it would not help a background that moves on its own (a car
window, people walking behind) and would warp the face the landmarks are fitted to, while the camera's
own motion is absorbed by the head-pose fit.

Output: bc.jpg and the report background.json (CONTRACTS.md). CLI:
    python -m gtalker.face.background --frames DIR --parsing DIR --out bc.jpg --report background.json
        [--notices N.json] [--mode auto|static|per_frame] [--stride 1 --min-dist 5]
        [--max-share 0.05 --max-path-px 2]
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from gtalker.common import InputError, atomic_path, reports_input_errors, setup_logging, write_json
from gtalker.face.motion import MotionConfig, MotionMeter
from gtalker.io.frames import JPEG_QUALITY, frame_path, frame_paths, read_image, write_image
from gtalker.notices import Notices
from gtalker.settings import add_flags, from_args

MODES = ("auto", "static", "per_frame")

log = logging.getLogger("gtalker.face.background")


@dataclass
class BackgroundConfig:
    """Settings of the static background (config section `background`); each field is a CLI flag."""

    stride: int = 1          # use every k-th frame
    min_dist: float = 5.0    # px from the foreground to trust a pixel
    mode: str = "auto"       # static image, each frame's own background, or per_frame when it moves (auto)
    max_share: float = MotionConfig.max_share      # changed background share above which it moves
    max_path_px: float = MotionConfig.max_path_px  # camera motion (px) above which the camera moves


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

    def result(self, min_dist: float) -> np.ndarray:
        """The background image, pixels closer than min_dist filled from the nearest known pixel."""
        if self.count == 0:
            raise InputError("no frames were given to the background model")
        return fill_from_nearest(self.best, self.known(min_dist))


def foreground_from_parsing(labels: np.ndarray) -> np.ndarray:
    """Foreground = every non-background label (head, neck, torso)."""
    return labels > 0


def _frame_and_labels(path, parsing_dir: str) -> tuple[int, np.ndarray, np.ndarray]:
    idx = int(path.stem)
    return idx, read_image(path), read_image(frame_path(parsing_dir, idx, ".png"), cv2.IMREAD_GRAYSCALE)


def extract_background(frames_dir: str, parsing_dir: str, cfg: BackgroundConfig | None = None,
                       meter: MotionMeter | None = None) -> np.ndarray:
    """bc image from the frames and their parsing (every `cfg.stride`-th frame); with a meter, also the
    camera motion and the background change against the result (into the meter)."""
    cfg = cfg or BackgroundConfig()
    stride, min_dist = cfg.stride, cfg.min_dist
    paths = frame_paths(frames_dir)
    if not paths:
        raise InputError(f"{frames_dir}: no frames")
    model: FarthestBackground | None = None
    for p in tqdm(paths[::stride], desc="background", file=sys.stderr, mininterval=2.0):
        _, img, labels = _frame_and_labels(p, parsing_dir)
        if model is None:
            model = FarthestBackground(*img.shape[:2])
        model.update(img, foreground_from_parsing(labels))
        if meter is not None:
            meter.track(img, labels)
    assert model is not None
    known = model.known(cfg.min_dist)
    frac = float(known.mean())
    log.info("background: %.1f%% of pixels seen away from the person, rest filled from the nearest",
             100 * frac)
    if frac < 0.05:
        log.warning("background: almost every pixel is always covered by the person (%.1f%% seen); "
                    "bc.jpg is mostly filled in", 100 * frac)
    bc = model.result(min_dist)
    if meter is not None:
        for p in tqdm(paths[::stride], desc="background motion", file=sys.stderr, mininterval=2.0):
            idx, img, labels = _frame_and_labels(p, parsing_dir)
            meter.compare(idx, img, labels, bc, known)
    return bc


def decide_mode(mode: str, report: dict, frames_dir: str, notices: Notices) -> str:
    """The background composite_torso uses ("static" or "per_frame"); a notice when it moves."""
    if mode not in MODES:
        raise InputError(f"background.mode '{mode}': must be one of {', '.join(MODES)}")
    chosen = "per_frame" if mode == "per_frame" or (mode == "auto" and report["moving"]) else "static"
    if report["moving"]:
        what = (f"{100 * report['changed_share']:.0f}% of the background differs from one static image "
                f"beyond noise (worst frame {report['worst_frame']}: "
                f"{100 * report['changed_share_worst']:.0f}%; threshold {100 * report['max_share']:.0f}%), "
                f"the background (scenery or camera) shifts up to {report['camera_path_px']:.1f} px from its place in "
                f"the first frame (threshold "
                f"{report['max_path_px']:g} px); a static background is "
                + (f"{report['background_psnr']:.1f} dB" if report["background_psnr"] is not None else "unmeasured")
                + " PSNR against the real background")
        if chosen == "per_frame":
            cost = ("each frame's own background is used behind the torso (background.mode: "
                    f"{mode}); camera shake, if any, is learnt as head motion")
        else:
            cost = ("background.mode: static keeps the one image, so targets and renders show the wrong "
                    "background; set background.mode: auto or per_frame")
        notices.warn("background_motion", f"{frames_dir}: the background moves: {what}; {cost}",
                     changed_share=report["changed_share"], camera_path_px=report["camera_path_px"],
                     background_psnr=report["background_psnr"], background_mode=chosen)
    return chosen


@reports_input_errors("gtalker.face.background")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--parsing", required=True, help="label maps 000000.png ... (0 = background)")
    ap.add_argument("--out", required=True, help="bc.jpg")
    ap.add_argument("--report", help="background.json: motion figures and the background mode chosen")
    ap.add_argument("--notices", help="JSON file for what the step decided about the input")
    ap.add_argument("--jpeg-quality", type=int, default=JPEG_QUALITY)
    add_flags(ap, BackgroundConfig)
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.background")
    cfg = from_args(args, BackgroundConfig)
    meter = MotionMeter(MotionConfig(max_share=cfg.max_share, max_path_px=cfg.max_path_px))
    bg = extract_background(args.frames, args.parsing, cfg, meter)
    report = meter.report()
    notices = Notices("extract_background", log)
    report["background_mode"] = decide_mode(cfg.mode, report, args.frames, notices)
    report["mode_setting"] = cfg.mode
    log.info("background: %.1f%% changed beyond noise, camera path %.2f px, static image %.1f dB -> %s",
             100 * report["changed_share"], report["camera_path_px"], report["background_psnr"] or 0,
             report["background_mode"])
    with atomic_path(args.out) as tmp:
        write_image(tmp, bg, args.jpeg_quality)
    if args.report:
        write_json(args.report, report)
    notices.write(args.notices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
