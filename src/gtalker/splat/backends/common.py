"""Per-pixel maths shared by the pure-torch rasterisers (tile-based and brute-force reference).

Both evaluate exactly these expressions, so that they agree to float rounding. For a Gaussian with
conic (a, b, c), opacity o and pixel offset (dx, dy) = pixel - centre:

    q     = (-a/2 dx^2) + (-c/2 dy^2 + ln o) + (-b dx) dy       (= power + ln o)
    alpha = min(0.99, exp(q))  where q >= cutoff_q, else 0

cutoff_q = max(ln o - 4.5, ln(1/255)): the 3-sigma ellipse, and alpha >= 1/255 (as 3DGS skips).
Compositing is front to back with T_i = prod_{j<i} (1 - alpha_j); Gaussian i is used only while
T_i (1 - alpha_i) >= 1e-4 (3DGS's early termination; T only decreases, so the pixel stops there).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gtalker.splat.geometry import ALPHA_MAX, ALPHA_MIN, SIGMA_CUTOFF

T_MIN = 1e-4


def log_opacity(opacities: Tensor) -> Tensor:
    """ln o, safe at o = 0 (no NaN gradients for culled Gaussians)."""
    return torch.log(opacities.clamp_min(1e-30))


def cutoff_q(log_o: Tensor) -> Tensor:
    """Lowest q = power + ln o inside the support (no gradient)."""
    lo = log_o.detach()
    return torch.maximum(lo - 0.5 * SIGMA_CUTOFF ** 2, torch.full_like(lo, math.log(ALPHA_MIN)))


def alpha_from_q(q: Tensor, cut: Tensor) -> Tensor:
    """alpha = min(0.99, exp(q)) inside the support (q >= cut), else exactly 0."""
    inside = q.detach() >= cut
    return torch.exp(torch.where(inside, q, torch.full_like(q, -math.inf))).clamp_max(ALPHA_MAX)
