"""Full-reference image metrics: PSNR and SSIM (Wang et al. 2004: Gaussian window 11, sigma 1.5).

SSIM follows the standard definition: K1 = 0.01, K2 = 0.03, L = 255, population (co)variances from the
Gaussian-weighted local moments, the map averaged over the positions where the whole window fits (no
padding), and colour images averaged over channels.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

DATA_RANGE = 255.0
MSE_FLOOR = 1e-10  # identical images: PSNR = 10 log10(255^2 / 1e-10) ~ 148 dB instead of infinity


def _as_float(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    return img.astype(np.float64) if img.dtype != np.float64 else img


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = DATA_RANGE,
         mask: np.ndarray | None = None) -> float:
    """PSNR in dB over all pixels and channels (or only where mask [H,W] is true)."""
    _check_pair(a, b)
    diff = (_as_float(a) - _as_float(b)) ** 2
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            raise ValueError("PSNR mask is empty")
        diff = diff[m]
    mse = max(float(diff.mean()), MSE_FLOOR)
    return float(10.0 * np.log10(data_range ** 2 / mse))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1D Gaussian taps (the 2D window is its outer product)."""
    x = np.arange(size) - (size - 1) / 2.0
    w = np.exp(-(x ** 2) / (2.0 * sigma ** 2))
    return w / w.sum()


def _filter_valid(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable 2D correlation of [H, W] with taps, keeping only fully covered positions."""
    r = (len(taps) - 1) // 2
    out = correlate1d(correlate1d(img, taps, axis=0, mode="constant"), taps, axis=1, mode="constant")
    return out[r:img.shape[0] - r, r:img.shape[1] - r]


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = DATA_RANGE, size: int = 11,
             sigma: float = 1.5) -> np.ndarray:
    """SSIM map of two single-channel images [H - size + 1, W - size + 1]."""
    _check_pair(a, b)
    if min(a.shape[:2]) < size:
        raise ValueError(f"images of {a.shape[:2]} are smaller than the {size}x{size} SSIM window")
    x, y = _as_float(a), _as_float(b)
    taps = gaussian_window(size, sigma)
    mx, my = _filter_valid(x, taps), _filter_valid(y, taps)
    sxx = _filter_valid(x * x, taps) - mx * mx
    syy = _filter_valid(y * y, taps) - my * my
    sxy = _filter_valid(x * y, taps) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """Mean SSIM; [H, W, C] images are averaged over channels."""
    _check_pair(a, b)
    if np.ndim(a) == 2:
        return float(ssim_map(a, b, data_range).mean())
    return float(np.mean([ssim_map(a[..., c], b[..., c], data_range).mean() for c in range(a.shape[2])]))
