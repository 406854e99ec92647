"""Image losses and metrics for the canonical stage: L1, SSIM (11x11 Gaussian window), masked PSNR."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _window(size: int = 11, sigma: float = 1.5, dtype=torch.float32, device=None) -> Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    g = g / g.sum()
    return g


def ssim(a: Tensor, b: Tensor, size: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean SSIM of two images [H,W,C] in [0,1] (separable Gaussian window, zero padding as 3DGS)."""
    x = a.permute(2, 0, 1).unsqueeze(0)
    y = b.permute(2, 0, 1).unsqueeze(0)
    c = x.shape[1]
    g = _window(size, sigma, x.dtype, x.device)
    kx = g.view(1, 1, 1, size).repeat(c, 1, 1, 1)
    ky = g.view(1, 1, size, 1).repeat(c, 1, 1, 1)

    def blur(t: Tensor) -> Tensor:
        t = F.conv2d(t, kx, padding=(0, size // 2), groups=c)
        return F.conv2d(t, ky, padding=(size // 2, 0), groups=c)

    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x * mu_x
    syy = blur(y * y) - mu_y * mu_y
    sxy = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return (num / den).mean()


def psnr(a: Tensor, b: Tensor, mask: Tensor | None = None) -> float:
    """PSNR (dB) of images in [0,1]; only over pixels where mask [H,W] is True when given."""
    err = (a.detach().clamp(0, 1) - b.detach()) ** 2
    if mask is not None:
        if not bool(mask.any()):
            return float("nan")
        err = err[mask]
    mse = float(err.mean())
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


def photometric_loss(pred: Tensor, target: Tensor, lambda_ssim: float = 0.2) -> Tensor:
    """(1 - lambda) L1 + lambda (1 - SSIM), 3DGS's loss (0.8 / 0.2 by default)."""
    l1 = (pred - target).abs().mean()
    if lambda_ssim <= 0:
        return l1
    return (1 - lambda_ssim) * l1 + lambda_ssim * (1 - ssim(pred, target))
