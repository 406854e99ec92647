"""The tri-plane lookup compiled with numba for the CPU, forward and backward (a torch.autograd.Function).

Computes, for points already normalised to [-1, 1]^3, the product over the three planes (xy, xz, yz) of
each plane's bilinear sample: exactly F.grid_sample(mode="bilinear", padding_mode="border",
align_corners=True) per plane followed by the product, which stays the readable reference
(gtalker.canonical.triplane; tests/test_canonical_triplane_kernel.py pins one to the other, values and
gradients). On the CPU that path costs a grid_sample per plane and resolution and a scattering
backward; here one pass per resolution reads the four taps of every plane channel-contiguously.

Semantics kept from grid_sample: the sample position is (x + 1) / 2 (size - 1), clamped to the plane
(border padding; no gradient to a clamped coordinate); a tap one past the edge, which only a position
exactly on the last row or column reaches, counts as 0.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange
from torch import Tensor

from gtalker.common import match_numba_threads

PLANE_AXES = ((0, 1), (0, 2), (1, 2))  # xy, xz, yz: (width axis, height axis) of each plane
_AXES = np.array(PLANE_AXES, dtype=np.int64)
BLOCKS = 2  # channel blocks per plane in the backward scatter (6 tasks; blocks of 16 floats = a cache line)


@njit(cache=True, nogil=True, inline="always")
def _taps(x, size):  # pragma: no cover - compiled
    """Clamped sample position of normalised x on a plane side of `size`: (lower index, fraction,
    d position / d x (0 where clamped))."""
    pos = (x + 1.0) * 0.5 * (size - 1)
    slope = 0.5 * (size - 1)
    if pos <= 0.0:
        pos, slope = 0.0, 0.0
    elif pos >= size - 1:
        pos, slope = float(size - 1), 0.0
    i0 = int(np.floor(pos))
    return i0, pos - i0, slope


@njit(cache=True, nogil=True, inline="always")
def _bilinear(pts, n, p, axes, size):  # pragma: no cover - compiled
    """Tap indices (x0, x1, y0, y1) and weights (w00, w01, w10, w11; rows y, columns x) of point n on
    plane p; a tap past the last row or column gets weight 0."""
    x0, fx, _ = _taps(pts[n, axes[p, 0]], size)
    y0, fy, _ = _taps(pts[n, axes[p, 1]], size)
    x1, y1 = min(x0 + 1, size - 1), min(y0 + 1, size - 1)
    wx1 = fx if x0 + 1 < size else 0.0
    wy1 = fy if y0 + 1 < size else 0.0
    return x0, x1, y0, y1, (1.0 - fx) * (1.0 - fy), wx1 * (1.0 - fy), (1.0 - fx) * wy1, wx1 * wy1


@njit(parallel=True, cache=True, nogil=True)
def _forward(planes, pts, axes, samples, out):  # pragma: no cover - compiled
    """planes [3,R,R,C] channels last; pts [N,3] -> samples [3,N,C] per plane, out [N,C] their product."""
    size, chans = planes.shape[1], planes.shape[3]
    for n in prange(pts.shape[0]):
        for c in range(chans):
            out[n, c] = 1.0
        for p in range(3):
            x0, x1, y0, y1, w00, w01, w10, w11 = _bilinear(pts, n, p, axes, size)
            for c in range(chans):
                v = (w00 * planes[p, y0, x0, c] + w01 * planes[p, y0, x1, c]
                     + w10 * planes[p, y1, x0, c] + w11 * planes[p, y1, x1, c])
                samples[p, n, c] = v
                out[n, c] *= v


@njit(parallel=True, cache=True, nogil=True)
def _backward_planes(planes, pts, axes, samples, grad_out, grad_planes, blocks):  # pragma: no cover - compiled
    """Scatter d out into the planes' taps; one task per (plane, block of channels), so no two threads
    write the same values."""
    size, chans = planes.shape[1], planes.shape[3]
    step = (chans + blocks - 1) // blocks
    for task in prange(3 * blocks):
        p, c0 = task // blocks, (task % blocks) * step
        for n in range(pts.shape[0]):
            x0, x1, y0, y1, w00, w01, w10, w11 = _bilinear(pts, n, p, axes, size)
            for c in range(c0, min(c0 + step, chans)):
                g = grad_out[n, c]
                for q in range(3):
                    if q != p:
                        g *= samples[q, n, c]
                grad_planes[p, y0, x0, c] += w00 * g
                grad_planes[p, y0, x1, c] += w01 * g
                grad_planes[p, y1, x0, c] += w10 * g
                grad_planes[p, y1, x1, c] += w11 * g


@njit(parallel=True, cache=True, nogil=True)
def _backward_points(planes, pts, axes, samples, grad_out, grad_pts):  # pragma: no cover - compiled
    """d out / d pts through every plane's bilinear weights (zero along a clamped coordinate)."""
    size, chans = planes.shape[1], planes.shape[3]
    for n in prange(pts.shape[0]):
        for p in range(3):
            x0, fx, sx = _taps(pts[n, axes[p, 0]], size)
            y0, fy, sy = _taps(pts[n, axes[p, 1]], size)
            x_in, y_in = x0 + 1 < size, y0 + 1 < size
            x1, y1 = min(x0 + 1, size - 1), min(y0 + 1, size - 1)
            gx = 0.0
            gy = 0.0
            for c in range(chans):
                g = grad_out[n, c]
                for q in range(3):
                    if q != p:
                        g *= samples[q, n, c]
                v00 = planes[p, y0, x0, c]
                v01 = planes[p, y0, x1, c] if x_in else 0.0
                v10 = planes[p, y1, x0, c] if y_in else 0.0
                v11 = planes[p, y1, x1, c] if x_in and y_in else 0.0
                gx += g * ((v01 - v00) * (1.0 - fy) + (v11 - v10) * fy)
                gy += g * ((v10 - v00) * (1.0 - fx) + (v11 - v01) * fx)
            grad_pts[n, axes[p, 0]] += gx * sx
            grad_pts[n, axes[p, 1]] += gy * sy


class TriPlaneLookup(torch.autograd.Function):
    """(planes [3,C,R,R], points [N,3] in [-1,1]) -> [N,C]: the product of the three planes' samples.

    Planes stored channels last (torch.channels_last, as TriPlane keeps them) are read and their
    gradient returned in place, without copies."""

    @staticmethod
    def forward(ctx, planes: Tensor, pts: Tensor) -> Tensor:
        planes_cl = planes.detach().permute(0, 2, 3, 1).contiguous().numpy()
        p = pts.detach().to(planes.dtype).contiguous().numpy()
        samples = np.empty((3, p.shape[0], planes_cl.shape[3]), dtype=planes_cl.dtype)
        out = np.empty((p.shape[0], planes_cl.shape[3]), dtype=planes_cl.dtype)
        match_numba_threads()
        _forward(planes_cl, p, _AXES, samples, out)
        ctx.state = (planes_cl, p, samples, pts.dtype)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        planes_cl, p, samples, pts_dtype = ctx.state
        g = grad_out.detach().to(torch.from_numpy(planes_cl[:0, 0, 0, 0]).dtype).contiguous().numpy()
        grad_planes = grad_pts = None
        match_numba_threads()
        if ctx.needs_input_grad[0]:
            gp = np.zeros_like(planes_cl)
            _backward_planes(planes_cl, p, _AXES, samples, g, gp, BLOCKS)
            grad_planes = torch.from_numpy(gp).permute(0, 3, 1, 2)
        if ctx.needs_input_grad[1]:
            gq = np.zeros_like(p)
            _backward_points(planes_cl, p, _AXES, samples, g, gq)
            grad_pts = torch.from_numpy(gq).to(pts_dtype)
        return grad_planes, grad_pts


def lookup(planes: Tensor, pts: Tensor) -> Tensor:
    """Product of the three planes' bilinear samples at normalised points (see the module docstring)."""
    return TriPlaneLookup.apply(planes, pts)
