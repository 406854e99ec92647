"""Training losses of the deformation stage (method.md §3): L1, D-SSIM (gtalker.imaging), lip-box L1."""

from __future__ import annotations

import torch
from torch import Tensor

from gtalker.imaging import ssim


def lip_l1(pred: Tensor, target: Tensor, boxes: Tensor) -> Tensor:
    """Mean L1 inside each frame's lip box (x0,y0,x1,y1 pixel bounds, exclusive end) [B,4].

    Boxes are clipped to the image; a frame whose box is empty contributes nothing.
    """
    _, h, w, _ = pred.shape
    total = pred.new_zeros(())
    count = 0
    for b in range(pred.shape[0]):
        x0, y0, x1, y1 = (int(v) for v in boxes[b].tolist())
        x0, x1 = max(0, x0), min(w, x1)
        y0, y1 = max(0, y0), min(h, y1)
        if x1 <= x0 or y1 <= y0:
            continue
        total = total + (pred[b, y0:y1, x0:x1] - target[b, y0:y1, x0:x1]).abs().mean()
        count += 1
    return total / max(count, 1)


def talker_loss(pred: Tensor, target: Tensor, lip_boxes: Tensor, weights: dict[str, float],
                perceptual: "torch.nn.Module | None" = None) -> tuple[Tensor, dict[str, float]]:
    """w_l1 L1 + w_ssim (1 - SSIM) + w_lip lip-box L1 (+ w_perceptual VGG distance when given).

    Returns the total and the parts as floats (for logging).
    """
    parts: dict[str, Tensor] = {
        "l1": (pred - target).abs().mean(),
        "dssim": 1.0 - ssim(pred, target),
        "lip": lip_l1(pred, target, lip_boxes),
    }
    total = weights["l1"] * parts["l1"] + weights["ssim"] * parts["dssim"] + weights["lip"] * parts["lip"]
    if perceptual is not None and weights.get("perceptual", 0.0) > 0:
        parts["perceptual"] = perceptual(pred, target)
        total = total + weights["perceptual"] * parts["perceptual"]
    return total, {k: float(v.detach()) for k, v in parts.items()}
