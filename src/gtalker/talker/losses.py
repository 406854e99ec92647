"""Training losses of the deformation stage (method.md §3): L1, D-SSIM, lip-box L1, PSNR."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_window(size: int = 11, sigma: float = 1.5, device: torch.device | None = None) -> Tensor:
    """Normalised 2D Gaussian kernel [size,size]."""
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2.0
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(pred: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM of images [B,H,W,3] in [0,1] (Gaussian window, C1=0.01^2, C2=0.03^2, 'same' padding)."""
    x = pred.permute(0, 3, 1, 2)
    y = target.permute(0, 3, 1, 2)
    channels = x.shape[1]
    kernel = gaussian_window(window, sigma, x.device).to(x.dtype).expand(channels, 1, window, window)
    pad = window // 2

    def blur(img: Tensor) -> Tensor:
        return F.conv2d(img, kernel, padding=pad, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)
    return (num / den).mean()


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


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB over a whole batch of images in [0,1]."""
    mse = F.mse_loss(pred.clamp(0, 1), target)
    return -10.0 * torch.log10(mse.clamp_min(1e-10))


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
