"""Torso images and training targets per frame (method.md §1).

- torso/000000.png: RGBA torso + neck; the neck is extended upwards under the chin (each column's top
  neck colour, slightly darkened upwards, blurred) and the torso's top edge where it touches the head, so
  that head motion never uncovers a hole. Alpha 0 elsewhere.
- torso_bg/000000.jpg: the torso image composited over the background (the rasteriser's background per
  frame): the static bc.jpg, or, when the background moves (background.json says "per_frame"), the
  frame's own background pixels, filled in from around where the person is.
- gt/000000.jpg: the training target: head pixels from the frame, every other pixel from torso_bg.

CLI: python -m gtalker.face.torso --frames DIR --parsing DIR --background bc.jpg --out-torso DIR
     --out-gt DIR --out-torso-bg DIR [--background-report background.json]
     [--neck-extend 0.094 --torso-extend 0.016 --push-down 0.008]
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm import tqdm

from gtalker.common import InputError, atomic_path, read_json, reports_input_errors, setup_logging
from gtalker.face.writer import ImageWriter
from gtalker.io.frames import JPEG_QUALITY, frame_path, frame_paths, read_image
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.face.torso")

HEAD, NECK, TORSO = 1, 2, 3


@dataclass
class TorsoConfig:
    """Settings of the torso images (config section `torso`); each field is a CLI flag. Extension lengths
    are fractions of the image height (the reference uses 48+4, 8, 4 px at 512)."""

    neck_extend: float = 0.094
    torso_extend: float = 0.016
    push_down: float = 0.008
    darken: float = 0.98


def extend_up(img: np.ndarray, region: np.ndarray, head: np.ndarray, length: int, push_down: int,
              darken: float, out: np.ndarray) -> np.ndarray:
    """Paint, in every column where `region`'s top pixel sits right under the head, that column's colour
    (taken up to push_down px below the top) upwards for `length` px into `out`; returns the painted mask."""
    h, w = region.shape
    painted = np.zeros((h, w), bool)
    if length <= 0 or not region.any():
        return painted
    top = region.argmax(axis=0)
    cols = np.nonzero(region.any(axis=0) & (top > 0))[0]
    top = top[cols]
    under_head = head[top - 1, cols]
    cols, top = cols[under_head], top[under_head]
    if len(cols) == 0:
        return painted
    count = region[:, cols].sum(axis=0)
    src = np.minimum(top + np.minimum(count - 1, push_down), h - 1)
    colours = img[src, cols].astype(np.float32)                                  # [m, C]
    steps = np.arange(length + push_down + 1)
    rows = src[None, :] - steps[:, None]                                         # [L, m]
    ok = rows >= 0
    shade = (darken ** steps).astype(np.float32)[:, None, None] * colours[None]  # [L, m, C]
    rr, cc = rows[ok], np.broadcast_to(cols, rows.shape)[ok]
    out[rr, cc] = np.clip(shade[ok], 0, 255).astype(np.uint8)
    painted[rr, cc] = True
    return painted


def vertical_dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Grow a mask up and down by `iterations` px."""
    kernel = np.ones((3, 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel, iterations=iterations).astype(bool)


def torso_rgba(img: np.ndarray, labels: np.ndarray, cfg: TorsoConfig) -> np.ndarray:
    """RGBA torso + neck image with the upward extensions (alpha 255 on them, 0 elsewhere)."""
    h = img.shape[0]
    head, neck, torso = labels == HEAD, labels == NECK, labels == TORSO
    rgb = img.copy()
    push = max(0, int(round(cfg.push_down * h)))
    torso_ext = extend_up(img, torso, head, int(round(cfg.torso_extend * h)), 0, cfg.darken, rgb)
    neck_grown = vertical_dilate(neck, 3) if neck.any() else neck
    neck_ext = extend_up(img, neck_grown, head, int(round(cfg.neck_extend * h)), push, cfg.darken, rgb)
    if neck_ext.any():  # soften the vertical streaks of the extension
        ys, xs = np.nonzero(neck_ext)
        y0, y1 = max(0, ys.min() - 2), min(h, ys.max() + 3)
        x0, x1 = max(0, xs.min() - 2), min(img.shape[1], xs.max() + 3)
        blurred = cv2.GaussianBlur(rgb[y0:y1, x0:x1], (5, 5), 0)
        sub = neck_ext[y0:y1, x0:x1]
        rgb[y0:y1, x0:x1][sub] = blurred[sub]
    alpha = ((neck | torso | neck_grown | neck_ext | torso_ext).astype(np.uint8) * 255)
    rgb = cv2.bitwise_and(rgb, rgb, mask=alpha)
    return cv2.merge([*cv2.split(rgb), alpha])


def composite(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Alpha-composite an RGBA image over an RGB background (fast path for a binary alpha)."""
    alpha = rgba[..., 3]
    if not np.count_nonzero((alpha > 0) & (alpha < 255)):  # binary alpha: a masked copy
        out = background.copy()
        cv2.copyTo(np.ascontiguousarray(rgba[..., :3]), (alpha > 0).astype(np.uint8), out)
        return out
    a = alpha[..., None].astype(np.float32) / 255.0
    out = rgba[..., :3].astype(np.float32) * a + background.astype(np.float32) * (1 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def training_target(img: np.ndarray, labels: np.ndarray, torso_bg: np.ndarray) -> np.ndarray:
    """The frame with every non-head pixel replaced by torso_bg."""
    out = torso_bg.copy()
    cv2.copyTo(img, (labels == HEAD).astype(np.uint8), out)
    return out


INPAINT_SIDE = 128  # px the person's area is filled in at, from the frame's own background around it


def frame_background(img: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The frame's own background pixels (label 0); where the person is, the surrounding background
    spread inwards (Telea inpainting at INPAINT_SIDE px, upscaled). A static image would be stale there:
    this is used when the background moves."""
    bg = labels == 0
    if bg.all() or not bg.any():
        return img.copy()
    h, w = labels.shape
    f = INPAINT_SIDE / max(h, w)
    size = (max(8, round(w * f)), max(8, round(h * f)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    hole = cv2.resize((~bg).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    hole = cv2.dilate(hole, np.ones((3, 3), np.uint8))
    filled = cv2.resize(cv2.inpaint(small, hole, 3, cv2.INPAINT_TELEA), (w, h), interpolation=cv2.INTER_LINEAR)
    cv2.copyTo(img, bg.astype(np.uint8), filled)
    return filled


def composite_video(frames_dir: str, parsing_dir: str, background: str, out_torso: str, out_gt: str,
                    out_torso_bg: str, cfg: TorsoConfig | None = None, jpeg_quality: int = JPEG_QUALITY,
                    per_frame: bool = False) -> int:
    """Write torso/, gt/ and torso_bg/ for every frame (over each frame's own background when
    `per_frame`); returns the frame count."""
    cfg = cfg or TorsoConfig()
    paths = frame_paths(frames_dir)
    if not paths:
        raise InputError(f"{frames_dir}: no frames")
    bc = cv2.imread(str(background), cv2.IMREAD_COLOR)  # B,G,R throughout: no colour conversions
    if bc is None:
        raise InputError(f"{background}: cannot read the background image; rerun rule extract_background")
    with atomic_path(out_torso, is_dir=True) as t_dir, atomic_path(out_gt, is_dir=True) as g_dir, \
            atomic_path(out_torso_bg, is_dir=True) as b_dir, ImageWriter(jpeg_quality=jpeg_quality) as writer:
        for p in tqdm(paths, desc="torso", file=sys.stderr, mininterval=2.0):
            i = int(p.stem)
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                raise InputError(f"{p}: cannot read the frame; rerun the ingest rules")
            labels = read_image(frame_path(parsing_dir, i, ".png"), cv2.IMREAD_GRAYSCALE)
            if labels.shape != img.shape[:2] or bc.shape != img.shape:
                raise InputError(f"frame {i}: sizes differ (frame {img.shape}, parsing {labels.shape}, "
                                 f"background {bc.shape}); rerun the face rules")
            rgba = torso_rgba(img, labels, cfg)
            tb = composite(rgba, frame_background(img, labels) if per_frame else bc)
            writer.put(frame_path(t_dir, i, ".png"), rgba, bgr=True)
            writer.put(frame_path(b_dir, i, ".jpg"), tb, bgr=True)
            writer.put(frame_path(g_dir, i, ".jpg"), training_target(img, labels, tb), bgr=True)
    return len(paths)


@reports_input_errors("gtalker.face.torso")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--parsing", required=True)
    ap.add_argument("--background", required=True)
    ap.add_argument("--out-torso", required=True)
    ap.add_argument("--out-gt", required=True)
    ap.add_argument("--out-torso-bg", required=True)
    ap.add_argument("--background-report", help="background.json of extract_background: its "
                    "background_mode (static or per_frame) decides what goes behind the torso")
    ap.add_argument("--jpeg-quality", type=int, default=JPEG_QUALITY)
    add_flags(ap, TorsoConfig)
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.torso")
    cfg = from_args(args, TorsoConfig)
    mode = read_json(args.background_report).get("background_mode", "static") if args.background_report else "static"
    if mode not in ("static", "per_frame"):
        raise InputError(f"{args.background_report}: background_mode '{mode}' is not static or per_frame; "
                         "rerun rule extract_background")
    log.info("background behind the torso: %s", mode)
    n = composite_video(args.frames, args.parsing, args.background, args.out_torso, args.out_gt,
                        args.out_torso_bg, cfg, args.jpeg_quality, per_frame=mode == "per_frame")
    log.info("torso images for %d frames", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
