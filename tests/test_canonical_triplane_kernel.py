"""The compiled tri-plane lookup against F.grid_sample (TriPlane's reference path), values and gradients.

The reference runs in float64 on the same normalised points: float32 grid_sample rounds the sample
position to float32 (up to 1e-5 of a value on 128 px planes), the kernel computes it in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gtalker.canonical.triplane import TriPlane
from gtalker.canonical.triplane_kernel import PLANE_AXES, lookup


def grid_sample_lookup(planes: torch.Tensor, xn: torch.Tensor) -> torch.Tensor:
    """The product of the three planes' grid_sample (bilinear, border, align_corners) at xn [N,3]."""
    grid = torch.stack([xn[:, list(ax)] for ax in PLANE_AXES]).unsqueeze(1)
    sampled = F.grid_sample(planes, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return sampled.prod(dim=0).squeeze(1).transpose(0, 1)


def value_and_grads(fn, planes: torch.Tensor, xn: torch.Tensor) -> tuple[torch.Tensor, ...]:
    planes = planes.clone().requires_grad_(True)
    xn = xn.clone().requires_grad_(True)
    f = fn(planes, xn)
    weights = torch.randn(f.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(f.dtype)
    (f * weights).sum().backward()
    return f.detach(), planes.grad, xn.grad


@pytest.mark.parametrize("size", [128, 5])
def test_kernel_equals_grid_sample(size):
    gen = torch.Generator().manual_seed(0)
    planes = torch.rand(3, 8, size, size, generator=gen) * 2 - 1  # signed: gradients of both signs
    xn = torch.rand(3000, 3, generator=gen) * 2.2 - 1.1              # some beyond the box: clamped
    xn[:3] = torch.tensor([[-1.0, 1.0, 0.0], [1.5, 0.0, 0.0], [0.0, 0.0, 0.0]])  # edges, outside, centre
    f, g_planes, g_xn = value_and_grads(lookup, planes, xn)
    ref_f, ref_planes, ref_xn = value_and_grads(grid_sample_lookup, planes.double(), xn.double())
    assert f.dtype == torch.float32 and f.shape == (3000, 8)
    assert torch.allclose(f.double(), ref_f, rtol=0, atol=1e-6)
    assert torch.allclose(g_planes.double(), ref_planes, rtol=0, atol=1e-5 * ref_planes.abs().max().item())
    assert torch.allclose(g_xn.double(), ref_xn, rtol=0, atol=1e-5 * ref_xn.abs().max().item())
    assert g_xn[1, 0] == 0 and ref_xn[1, 0] == 0  # a clamped coordinate gets no gradient, as in grid_sample


def test_triplane_uses_kernel_on_cpu_float32_only():
    tp = TriPlane([-1, -1, -1], [1, 1, 1], channels=4, resolutions=(5, 9))
    pts = torch.rand(50, 3) * 2 - 1
    compiled = tp(pts)
    tp.compiled = False
    assert torch.allclose(compiled, tp(pts), atol=1e-5)
    tp.compiled = True
    out = tp.double()(pts.double())  # float64 goes through grid_sample
    assert out.dtype == torch.float64 and torch.allclose(out.float(), compiled, atol=1e-5)
