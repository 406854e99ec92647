"""Image metrics inside a region of the frame: the head mask and the face box (landmark hull).

Full-frame figures hide a failed head: torso and background come from the real frame, so a render with
a doubled or smeared face still scores high over the whole image. These figures look only where the
head is:
- `face`: the convex hull of the real frame's 68 landmarks (jaw line and brows), measured in the real
  frame (gtalker.metrics.landmarks), so a wrong render cannot move the region;
- `head`: the head label (1) of the frame's parsing (face/parsing), face, hair and ears.

PSNR is over the region's pixels. SSIM is the mean of the SSIM map over the window centres inside the
region. LPIPS is on the region's bounding box (grown by PAD) with every pixel outside the region taken
from the target in both images, so only the region's differences count.
"""

from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np
import torch

from gtalker.imaging import WINDOW, psnr, ssim_map

REGIONS = ("face", "head")
PAD = 0.1          # bounding-box growth (fraction of its size) for the LPIPS crop
MIN_PIXELS = 64    # smaller regions are not measured (NaN)
LPIPS_MIN_SIDE = 64


def hull_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean [H, W] mask of the convex hull of the landmarks (x, y)."""
    mask = np.zeros(shape, np.uint8)
    pts = np.asarray(landmarks, np.float64)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) >= 3:
        hull = cv2.convexHull(np.round(pts).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def _bchw(img: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(img, dtype=np.float64))
    return (t[..., None] if t.ndim == 2 else t).permute(2, 0, 1)[None]


def masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM (uint8 range, gtalker.imaging's valid-border map, averaged over channels) over the window
    centres inside `mask`."""
    r = (WINDOW - 1) // 2
    mask = np.asarray(mask, bool)
    if not mask[r:mask.shape[0] - r, r:mask.shape[1] - r].any():
        return float("nan")
    # only the mask's box grown by the window's radius: the same map values at the same centres
    ys, xs = np.nonzero(mask)
    y0, y1 = max(0, ys.min() - r), min(mask.shape[0], ys.max() + 1 + r)
    x0, x1 = max(0, xs.min() - r), min(mask.shape[1], xs.max() + 1 + r)
    inner = mask[y0:y1, x0:x1][r:y1 - y0 - r, r:x1 - x0 - r]
    smap = ssim_map(_bchw(a[y0:y1, x0:x1]), _bchw(b[y0:y1, x0:x1]), data_range=255.0,
                    border="valid")[0].mean(dim=0).numpy()
    return float(smap[inner].mean())


def region_box(mask: np.ndarray, pad: float = PAD) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the mask's bounding box grown by `pad`, inside the image."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    gx, gy = int(round(pad * (x1 - x0))), int(round(pad * (y1 - y0)))
    h, w = mask.shape
    return max(0, x0 - gx), max(0, y0 - gy), min(w, x1 + gx), min(h, y1 + gy)


def region_crops(rendered: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The LPIPS crops: the region's box, pixels outside the region from the target in both."""
    x0, y0, x1, y1 = region_box(mask)
    rend = np.where(mask[..., None], rendered, target)[y0:y1, x0:x1]
    tgt = target[y0:y1, x0:x1]
    side = min(rend.shape[:2])
    if side < LPIPS_MIN_SIDE:
        f = LPIPS_MIN_SIDE / side
        size = (int(round(rend.shape[1] * f)), int(round(rend.shape[0] * f)))
        rend = cv2.resize(rend, size, interpolation=cv2.INTER_LINEAR)
        tgt = cv2.resize(tgt, size, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(rend), np.ascontiguousarray(tgt)


def region_metrics(rendered: np.ndarray, target: np.ndarray, mask: np.ndarray,
                   lpips: Callable[[np.ndarray, np.ndarray], float] | None = None) -> dict[str, float]:
    """PSNR, SSIM and (when a distance function is given) LPIPS inside `mask`; NaN for a tiny region."""
    nan = float("nan")
    mask = np.asarray(mask, bool)
    if int(mask.sum()) < MIN_PIXELS:
        return {"psnr": nan, "ssim": nan, "lpips": nan}
    out: dict[str, Any] = {"psnr": psnr(rendered, target, mask=mask, data_range=255.0),
                           "ssim": masked_ssim(rendered, target, mask), "lpips": nan}
    if lpips is not None:
        out["lpips"] = float(lpips(*region_crops(rendered, target, mask)))
    return out
