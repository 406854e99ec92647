"""Image similarity, the one home of PSNR and SSIM for losses and metrics alike.

SSIM follows Wang et al. 2004: a Gaussian window (11 taps, sigma 1.5) applied separably, K1 = 0.01,
K2 = 0.03, population (co)variances from the Gaussian-weighted local moments, the map averaged over
positions and channels. Two borders: `valid` keeps only positions where the whole window fits (the
standard metric, as scikit-image) and `same` zero-pads (the 3DGS training loss, differentiable).
PSNR is 10 log10(range^2 / MSE) with the MSE floored at 1e-10 (identical images give a large finite
value instead of infinity). Both take torch tensors or numpy arrays (numpy is computed in float64).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

MSE_FLOOR = 1e-10
WINDOW = 11
SIGMA = 1.5


def _check_pair(a, b) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """PSNR in dB of a mean squared error on images whose values span `data_range`."""
    return float(10.0 * math.log10(data_range ** 2 / max(mse, MSE_FLOOR)))


def psnr(pred, target, mask=None, data_range: float = 1.0) -> float:
    """PSNR in dB over all pixels and channels (or only where mask [H,W] is true; NaN if it is empty).

    pred is clipped to [0, data_range] first; tensors are detached, numpy arrays taken as float64.
    """
    _check_pair(pred, target)
    if isinstance(pred, Tensor):
        err = (pred.detach().clamp(0, data_range) - target.detach()) ** 2
    else:
        err = (np.clip(np.asarray(pred, dtype=np.float64), 0, data_range)
               - np.asarray(target, dtype=np.float64)) ** 2
    if mask is not None:
        if not bool(mask.any()):
            return float("nan")
        err = err[mask]
    return psnr_from_mse(float(err.mean()), data_range)


def gaussian_taps(size: int = WINDOW, sigma: float = SIGMA, dtype: torch.dtype = torch.float64,
                  device: torch.device | None = None) -> Tensor:
    """Normalised 1D Gaussian taps (the 2D window is their outer product)."""
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def _separable_blur(t: Tensor, g: Tensor, pad: int) -> Tensor:
    """Correlate every channel of [B, C, H, W] with taps g along x, then y (zero padding `pad`, which is
    len(g) // 2 or 0).

    Tensors that need a gradient go through conv2d; plain float64 ones (the metric) through scipy, as
    CPU conv2d has no fast float64 kernel (10x slower than scikit-image); both are the same filter.
    """
    k = len(g)
    if t.dtype == torch.float64 and not t.requires_grad:
        from scipy.ndimage import correlate1d

        taps = g.cpu().numpy()
        out = correlate1d(correlate1d(t.cpu().numpy(), taps, axis=-1, mode="constant"), taps, axis=-2,
                          mode="constant")
        if not pad:
            r = (k - 1) // 2
            out = out[..., r:out.shape[-2] - r, r:out.shape[-1] - r]
        return torch.from_numpy(np.ascontiguousarray(out)).to(t.device)
    c = t.shape[1]
    t = F.conv2d(t, g.view(1, 1, 1, k).repeat(c, 1, 1, 1), padding=(0, pad), groups=c)
    return F.conv2d(t, g.view(1, 1, k, 1).repeat(c, 1, 1, 1), padding=(pad, 0), groups=c)


def ssim_map(x: Tensor, y: Tensor, data_range: float = 1.0, size: int = WINDOW, sigma: float = SIGMA,
             border: str = "same") -> Tensor:
    """SSIM map of images [B, C, H, W]: same size ('same', zero padding) or shrunk by size - 1 ('valid')."""
    _check_pair(x, y)
    if border not in ("same", "valid"):
        raise ValueError(f"border must be 'same' or 'valid', got {border!r}")
    if border == "valid" and min(x.shape[-2:]) < size:
        raise ValueError(f"images of {tuple(x.shape[-2:])} are smaller than the {size}x{size} SSIM window")
    g = gaussian_taps(size, sigma, x.dtype, x.device)
    pad = size // 2 if border == "same" else 0

    def blur(t: Tensor) -> Tensor:
        return _separable_blur(t, g, pad)

    # two filter calls instead of five: the terms of y alone (the target: no gradient), then those of x
    c = x.shape[1]
    blurred_y = blur(torch.cat([y, y * y], dim=1))
    blurred_x = blur(torch.cat([x, x * x, x * y], dim=1))
    mu_y, yy = blurred_y.split(c, dim=1)
    mu_x, xx, xy = blurred_x.split(c, dim=1)  # split: one backward concatenation, not three zero fills
    sxx = xx - mu_x * mu_x
    syy = yy - mu_y * mu_y
    sxy = xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return num / den


def _as_bchw(img) -> Tensor:
    """[H,W], [H,W,C] or [B,H,W,C] (tensor or array) -> [B,C,H,W] (channels last in memory); numpy as
    float64."""
    t = img if isinstance(img, Tensor) else torch.from_numpy(np.asarray(img, dtype=np.float64))
    if t.ndim == 2:
        t = t[..., None]
    if t.ndim == 3:
        t = t[None]
    return t.permute(0, 3, 1, 2)  # a channels-last view: CPU conv2d filters it several times faster


def ssim(a, b, data_range: float = 1.0, border: str = "same"):
    """Mean SSIM of images [H,W], [H,W,C] or [B,H,W,C]: a tensor for tensors (differentiable), a float
    for numpy arrays."""
    _check_pair(a, b)
    value = ssim_map(_as_bchw(a), _as_bchw(b), data_range, border=border).mean()
    return value if isinstance(a, Tensor) else float(value)
