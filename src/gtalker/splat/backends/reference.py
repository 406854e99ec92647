"""Brute-force reference rasteriser: every Gaussian evaluated at every pixel (pure torch).

Same per-pixel maths as the tile rasteriser (backends.common); no tiles and no culling beyond the
projection's visibility flags. Pixels are processed in chunks, with activation checkpointing when
gradients are needed, so that memory stays bounded. Meant for tests and as the benchmark baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from gtalker.splat.backends.common import T_MIN, alpha_from_q, cutoff_q, log_opacity
from gtalker.splat.geometry import Projection


def _composite_pixels(px: Tensor, py: Tensor, means2d: Tensor, conics: Tensor, log_o: Tensor,
                      features: Tensor) -> Tensor:
    """Front-to-back sums [P, F] of weight * features for pixels (px, py) [P] over depth-sorted Gaussians."""
    dx = px[:, None] - means2d[None, :, 0]
    dy = py[:, None] - means2d[None, :, 1]
    a, b, c = conics[None, :, 0], conics[None, :, 1], conics[None, :, 2]
    q = (-0.5 * a * dx * dx) + (-0.5 * c * dy * dy + log_o[None]) + (-b * dx) * dy
    alpha = alpha_from_q(q, cutoff_q(log_o)[None])
    one_minus = 1.0 - alpha
    t_after = torch.cumprod(one_minus, dim=1)
    t_before = torch.cat([torch.ones_like(t_after[:, :1]), t_after[:, :-1]], dim=1)
    keep = t_after.detach() >= T_MIN
    w = torch.where(keep, alpha * t_before, torch.zeros_like(alpha))
    return w @ features


def render(proj: Projection, colors: Tensor, opacities: Tensor, width: int, height: int,
           chunk_pixels: int = 2048) -> tuple[Tensor, Tensor, Tensor]:
    """Colour [H,W,3] (over black), alpha [H,W,1], depth [H,W,1] of depth-sorted visible Gaussians."""
    idx = torch.nonzero(proj.visible).squeeze(1)
    order = idx[torch.argsort(proj.depths.detach()[idx], stable=True)]
    means2d = proj.means2d[order]
    conics = proj.conics[order]
    log_o = log_opacity(opacities[order])
    depth = proj.depths[order, None]
    features = torch.cat([colors[order], depth, torch.ones_like(depth)], dim=1)
    dtype, device = means2d.dtype, means2d.device
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                            torch.arange(width, device=device, dtype=dtype), indexing="ij")
    px, py = xs.reshape(-1), ys.reshape(-1)
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (means2d, conics, log_o, features))
    parts = []
    for s in range(0, px.numel(), chunk_pixels):
        args = (px[s:s + chunk_pixels], py[s:s + chunk_pixels], means2d, conics, log_o, features)
        if needs_grad:
            parts.append(checkpoint(_composite_pixels, *args, use_reentrant=False))
        else:
            parts.append(_composite_pixels(*args))
    out = torch.cat(parts, dim=0).reshape(height, width, -1)
    return out[..., :3], out[..., 4:5], out[..., 3:4]
