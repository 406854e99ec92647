"""Multi-resolution tri-plane: three axis-aligned 2D feature planes (xy, xz, yz) per resolution.

A point is normalised into the head's bounding box ([-1, 1]^3), looked up bilinearly in each plane; the
three plane features are multiplied together, and the products of all resolutions concatenated
(32 channels x resolutions 64 and 128 -> 64-d), as in the method (method.md §2).

On the CPU the lookup is the compiled kernel of gtalker.canonical.triplane_kernel (same values and
gradients, several times faster); elsewhere, or with `compiled = False`, F.grid_sample per plane.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gtalker.canonical.triplane_kernel import PLANE_AXES, lookup


class TriPlane(nn.Module):
    """Feature planes over an axis-aligned box; forward(points [N,3]) -> features [N, channels * len(resolutions)]."""

    def __init__(self, bounds_min: Sequence[float], bounds_max: Sequence[float], channels: int = 32,
                 resolutions: Sequence[int] = (64, 128), init_range: tuple[float, float] = (0.1, 0.5)) -> None:
        super().__init__()
        lo = torch.as_tensor(bounds_min, dtype=torch.float32).reshape(3)
        hi = torch.as_tensor(bounds_max, dtype=torch.float32).reshape(3)
        if not bool((hi > lo).all()):
            raise ValueError(f"tri-plane bounds must satisfy max > min per axis, got {lo.tolist()} / {hi.tolist()}")
        self.register_buffer("bounds_min", lo)
        self.register_buffer("bounds_max", hi)
        self.channels = channels
        self.resolutions = tuple(int(r) for r in resolutions)
        # Multiplicative features: start in (0.1, 0.5) so that the products are neither 0 nor saturated.
        # channels last in memory (same shape and state dict): the compiled lookup reads them in place
        self.planes = nn.ParameterList([
            nn.Parameter(torch.empty(3, channels, r, r).uniform_(*init_range).contiguous(
                memory_format=torch.channels_last)) for r in self.resolutions])
        self.compiled = True  # the numba kernel on the CPU; False: grid_sample (the reference)

    @classmethod
    def around(cls, points: Tensor, margin: float = 0.1, **kwargs) -> "TriPlane":
        """A tri-plane whose box is the points' bounding box grown by `margin` of its size per side."""
        lo, hi = points.min(dim=0).values, points.max(dim=0).values
        size = (hi - lo).clamp_min(1e-6)
        return cls((lo - margin * size).tolist(), (hi + margin * size).tolist(), **kwargs)

    @property
    def out_dim(self) -> int:
        return self.channels * len(self.resolutions)

    def normalize(self, points: Tensor) -> Tensor:
        """Points mapped to [-1, 1]^3 over the box (outside points are clamped at lookup)."""
        return 2.0 * (points - self.bounds_min) / (self.bounds_max - self.bounds_min) - 1.0

    def forward(self, points: Tensor) -> Tensor:
        xn = self.normalize(points)
        if self.compiled and xn.device.type == "cpu" and xn.dtype == torch.float32:
            return torch.cat([lookup(plane, xn) for plane in self.planes], dim=1)
        grid = torch.stack([xn[:, list(ax)] for ax in PLANE_AXES], dim=0).unsqueeze(1)  # [3, 1, N, 2]
        feats = []
        for plane in self.planes:
            sampled = F.grid_sample(plane, grid.to(plane.dtype), mode="bilinear", padding_mode="border",
                                    align_corners=True)  # [3, C, 1, N]
            feats.append(sampled.prod(dim=0).squeeze(1).transpose(0, 1))  # [N, C]
        return torch.cat(feats, dim=1)
