"""Bicubic upsampling of a rendered head (colour + alpha, channels last) as two matrix products.

The weights are those of torch.nn.functional.interpolate(mode="bicubic", align_corners=False): source
coordinate (i + 0.5) n_in / n_out - 0.5, Keys' cubic with A = -0.75 over the 4 nearest source pixels,
indices clamped at the border. As a [n_out, n_in] matrix per axis (built once per size pair), one frame
is M_y X M_x^T: the same sums as interpolate's, in another order (they agree to ~1e-6), for a whole
batch of channels-last images at once without permuting them. Without gradients on the CPU,
composite_upsampled runs the same 4 taps per axis as a compiled kernel (upsampling, clamping and
compositing in one pass over the output; dense matrix products do 64x the multiplications at 2x).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from numba import njit, prange
from torch import Tensor

from gtalker.common import match_numba_threads

CUBIC_A = -0.75  # PyTorch's (and OpenCV's) bicubic coefficient


@functools.lru_cache(maxsize=16)
def _taps(n_in: int, n_out: int) -> tuple[Tensor, Tensor]:
    """Per output pixel, the 4 source indices [n_out,4] (clamped) and their bicubic weights [n_out,4]."""
    x = (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5
    x0 = torch.floor(x)
    t = x - x0
    a = CUBIC_A

    def near(u: Tensor) -> Tensor:  # |u| <= 1
        return ((a + 2) * u - (a + 3)) * u * u + 1

    def far(u: Tensor) -> Tensor:   # 1 < |u| < 2
        return ((a * u - 5 * a) * u + 8 * a) * u - 4 * a

    weights = torch.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], dim=1)
    index = (x0.long()[:, None] + torch.arange(-1, 3)[None]).clamp(0, n_in - 1)
    return index, weights


@functools.lru_cache(maxsize=16)
def _matrix(n_in: int, n_out: int) -> Tensor:
    index, weights = _taps(n_in, n_out)
    return torch.zeros(n_out, n_in, dtype=torch.float64).scatter_add_(1, index, weights)


def bicubic_matrix(n_in: int, n_out: int, dtype: torch.dtype = torch.float32,
                   device: torch.device | str = "cpu") -> Tensor:
    """[n_out, n_in]: row i holds the bicubic weights of output pixel i over the input pixels."""
    return _matrix(int(n_in), int(n_out)).to(dtype=dtype, device=device)


def upsample_planar(images: Tensor, height: int, width: int) -> Tensor:
    """[B,h,w,C] -> [B,height,C,width] (rows of channel planes), bicubic as F.interpolate
    (align_corners=False): along x on the small image, then along y; both are plain 2D matrix products."""
    b, h, w, c = images.shape
    my = bicubic_matrix(h, height, images.dtype, images.device)
    mx = bicubic_matrix(w, width, images.dtype, images.device)
    along_x = torch.matmul(images.permute(0, 1, 3, 2).reshape(b * h * c, w), mx.T)   # [B*h*C, width]
    return torch.matmul(my, along_x.reshape(b, h, c * width)).reshape(b, height, c, width)


def upsample(images: Tensor, height: int, width: int) -> Tensor:
    """[B,h,w,C] -> [B,height,width,C], bicubic (as F.interpolate, align_corners=False)."""
    return upsample_planar(images, height, width).permute(0, 1, 3, 2).contiguous()


@njit(parallel=True, cache=True, nogil=True)
def _upsample_composite(rgba, ix, wx, iy, wy, bg, out):  # pragma: no cover - compiled
    """rgba [B,h,w,4] -> out [B,H,W,3]: every source row along x once, then every output row along y
    (4 taps each), clamped to [0,1], over bg [B,H,W,3] (or [0,0,0,3]: none)."""
    b_n, h = rgba.shape[0], rgba.shape[1]
    height, width = out.shape[1], out.shape[2]
    has_bg = bg.shape[1] > 0
    along_x = np.empty((b_n, h, width, 4), dtype=np.float32)
    for task in prange(b_n * h):
        b, src = task // h, task % h
        for j in range(width):
            for c in range(4):
                acc = np.float32(0.0)
                for k in range(4):
                    acc += wx[j, k] * rgba[b, src, ix[j, k], c]
                along_x[b, src, j, c] = acc
    for task in prange(b_n * height):
        b, i = task // height, task % height
        for j in range(width):
            a = np.float32(0.0)
            for r in range(4):
                a += wy[i, r] * along_x[b, iy[i, r], j, 3]
            a = min(max(a, np.float32(0.0)), np.float32(1.0))
            for c in range(3):
                v = np.float32(0.0)
                for r in range(4):
                    v += wy[i, r] * along_x[b, iy[i, r], j, c]
                v = min(max(v, np.float32(0.0)), np.float32(1.0))
                out[b, i, j, c] = v + (1 - a) * bg[b if bg.shape[0] > 1 else 0, i, j, c] if has_bg else v


def _compiled(color: Tensor, alpha: Tensor, size: int, background: Tensor | None) -> Tensor:
    """composite_upsampled by the compiled kernel (CPU float32, no gradient)."""
    b_n, h, w, _ = color.shape
    rgba = torch.cat([color, alpha], dim=-1).contiguous().numpy()
    ix, wx = (x.numpy() for x in _taps(w, size))
    iy, wy = (x.numpy() for x in _taps(h, size))
    if background is None:
        bg = np.zeros((1, 0, 0, 3), np.float32)
    else:
        bgt = background.float()
        bgt = bgt.reshape(1, 1, 1, 3).expand(1, size, size, 3) if bgt.dim() == 1 else bgt
        bg = (bgt if bgt.dim() == 4 else bgt[None]).contiguous().numpy()
    out = np.empty((b_n, size, size, 3), np.float32)
    match_numba_threads()
    _upsample_composite(rgba, ix, wx.astype(np.float32), iy, wy.astype(np.float32), bg, out)
    return torch.from_numpy(out)


def composite_upsampled(color: Tensor, alpha: Tensor, size: int, background: Tensor | None,
                        compiled: bool = True) -> Tensor:
    """The head's colour [B,h,w,3] and alpha [B,h,w,1] upsampled to size x size, clamped to [0,1] and
    composited over the background ([B,size,size,3], [size,size,3], [3] or None): [B,size,size,3].
    `compiled` (default): the numba kernel when nothing needs a gradient on a CPU float32 input."""
    if (compiled and color.device.type == "cpu" and color.dtype == torch.float32
            and not (torch.is_grad_enabled() and (color.requires_grad or alpha.requires_grad))):
        return _compiled(color.detach(), alpha.detach(), size, background)
    up = upsample_planar(torch.cat([color, alpha], dim=-1), size, size).clamp_(0, 1)
    rgb, a = up[:, :, :3], up[:, :, 3:]
    if background is not None:
        bg = background.reshape(1, 1, 3, 1) if background.dim() == 1 else background.transpose(-1, -2)
        rgb = rgb + (1 - a) * bg
    return rgb.permute(0, 1, 3, 2).contiguous()
