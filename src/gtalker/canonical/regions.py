"""Face regions of a training view, and the squared-error sums per region, for per-region PSNR.

The regions split the head mask into disjoint parts, first match wins in this order: `border` (head-mask
pixels within `border_px` of its edge), `mouth` (the face/lips.npy box), `eyes` (boxes around landmarks
36-47, when landmarks are given), `hair` (when a hair mask is given), `face_rest` (everything else).
Unions reported too: `head` (the whole mask) and `head_no_mouth` (the mask without the mouth box), the
figure to read for a static head, whose mouth cannot follow speech (the deformation stage's job).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from gtalker.imaging import psnr_from_mse

PARTS = ("border", "mouth", "eyes", "hair", "face_rest")
UNIONS = ("head", "head_no_mouth")
EYE_IDS = ((36, 42), (42, 48))


def eye_boxes(landmarks: np.ndarray, size: int) -> np.ndarray:
    """[size, size] bool: a box around each eye of 68 landmarks [68, 2] (already at `size`), with room
    above for the lid and brow edge (0.5 eye widths) and below (0.4), 0.3 eye widths to each side."""
    out = np.zeros((size, size), dtype=bool)
    for lo, hi in EYE_IDS:
        eye = landmarks[lo:hi]
        w = float(eye[:, 0].max() - eye[:, 0].min())
        x0 = max(int(math.floor(eye[:, 0].min() - 0.3 * w)), 0)
        x1 = min(int(math.ceil(eye[:, 0].max() + 0.3 * w)), size)
        y0 = max(int(math.floor(eye[:, 1].min() - 0.5 * w)), 0)
        y1 = min(int(math.ceil(eye[:, 1].max() + 0.4 * w)), size)
        out[y0:y1, x0:x1] = True
    return out


def box_mask(box: np.ndarray, size: int) -> np.ndarray:
    """[size, size] bool of the pixel box (x0, y0, x1, y1), clipped to the image."""
    x0, y0, x1, y1 = (int(v) for v in np.clip(np.asarray(box), 0, size))
    out = np.zeros((size, size), dtype=bool)
    out[y0:y1, x0:x1] = True
    return out


def head_regions(head_mask: np.ndarray, lip_box: np.ndarray, landmarks: np.ndarray | None = None,
                 hair: np.ndarray | None = None, border_px: int = 2) -> dict[str, np.ndarray]:
    """Disjoint parts of the head mask and their unions (see the module docstring), all [S, S] bool."""
    head = np.asarray(head_mask, dtype=bool)
    size = head.shape[0]
    k = 2 * border_px + 1
    inner = cv2.erode(head.astype(np.uint8), np.ones((k, k), np.uint8), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0).astype(bool)
    mouth = box_mask(lip_box, size)
    candidates = {"border": head & ~inner, "mouth": mouth,
                  "eyes": eye_boxes(landmarks, size) if landmarks is not None else None,
                  "hair": np.asarray(hair, dtype=bool) if hair is not None else None,
                  "face_rest": np.ones_like(head)}
    out: dict[str, np.ndarray] = {}
    taken = np.zeros_like(head)
    for name in PARTS:
        cand = candidates[name]
        if cand is None:
            continue
        part = head & cand & ~taken
        out[name] = part
        taken |= part
    out["head"] = head
    out["head_no_mouth"] = head & ~mouth
    return out


class RegionErrors:
    """Running sums of squared error and counts per region over many views; PSNR per region at the end."""

    def __init__(self) -> None:
        self.sse: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.pixel_count: dict[str, int] = {}
        self.views = 0

    def add(self, pred: np.ndarray, target: np.ndarray, regions: dict[str, np.ndarray]) -> None:
        """One view: pred and target [S, S, C] in [0, 1]."""
        err = (np.clip(pred, 0.0, 1.0) - target) ** 2
        channels = err.shape[-1]
        self.views += 1
        for name, mask in regions.items():
            self.pixel_count[name] = self.pixel_count.get(name, 0) + int(mask.sum())
            self.sse[name] = self.sse.get(name, 0.0) + float(err[mask].sum())
            self.count[name] = self.count.get(name, 0) + int(mask.sum()) * channels

    def psnr(self) -> dict[str, float]:
        """PSNR (dB) per region over all views added (NaN for an empty region)."""
        out = {}
        for name, sse in self.sse.items():
            n = self.count[name]
            out[name] = float("nan") if n == 0 else psnr_from_mse(sse / n)
        return out

    def share(self, of: str = "head") -> dict[str, float]:
        """Each region's part of the squared error of region `of`."""
        total = self.sse.get(of, 0.0)
        return {name: (sse / total if total > 0 else float("nan")) for name, sse in self.sse.items()}

    def pixels(self) -> dict[str, float]:
        """Mean pixel count per view of each region."""
        return {name: n / max(self.views, 1) for name, n in self.pixel_count.items()}
