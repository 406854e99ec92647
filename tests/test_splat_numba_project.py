"""The compiled projection + SH pass against geometry.project and sh.eval_sh (torch autograd)."""

from __future__ import annotations

import math

import pytest
import torch

from gtalker.splat.backends.numba_project import project_shade
from gtalker.splat.geometry import camera_center, project
from gtalker.splat.rasterize import rasterize
from gtalker.splat.sh import eval_sh


def scene(n: int, seed: int, degree: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=g) * 0.5 + torch.tensor([0.0, 0.0, 2.0])
    means[:3] = torch.tensor([[0.0, 0.0, -1.0], [30.0, 0.0, 2.0], [0.1, -0.1, 0.005]])  # behind, off screen, close
    return {"means": means, "quats": torch.randn(n, 4, generator=g),
            "scales": torch.rand(n, 3, generator=g) * 0.1 + 0.005,
            "opacities": torch.cat([torch.tensor([0.002]), torch.rand(n - 1, generator=g)]),  # one below 1/255
            "sh": torch.randn(n, (degree + 1) ** 2 + 2, 3, generator=g) * 0.4}  # extra coefficients unused


def camera(width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    K = torch.tensor([[1.1 * width, 0, 0.45 * width], [0, 1.2 * width, 0.55 * height], [0, 0, 1]])
    c, s = math.cos(0.3), math.sin(0.3)
    V = torch.tensor([[c, 0, s, 0.1], [0, 1, 0, -0.05], [-s, 0, c, 0.2], [0, 0, 0, 1]])
    return K, V


def reference(x: dict[str, torch.Tensor], degree: int, K, V, w: int, h: int):
    proj = project(x["means"], x["quats"], x["scales"], x["opacities"], K, V, w, h)
    return proj, eval_sh(degree, x["sh"], x["means"] - camera_center(V))


OUTPUTS = ("means2d", "depths", "conics")


def outputs_and_grads(fn, x: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]):
    leaves = {k: v.clone().requires_grad_(k != "opacities") for k, v in x.items()}
    proj, rgb = fn(leaves)
    values = {k: getattr(proj, k) for k in OUTPUTS} | {"rgb": rgb}
    loss = sum((values[k] * weights[k]).sum() for k in values)
    loss.backward()
    return proj, values, {k: v.grad for k, v in leaves.items() if v.requires_grad}


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_values_and_gradients_equal_torch(degree):
    w, h = 96, 80
    x = scene(400, degree, degree)
    K, V = camera(w, h)
    g = torch.Generator().manual_seed(7)
    weights = {"means2d": torch.randn(400, 2, generator=g), "depths": torch.randn(400, generator=g),
               "conics": torch.randn(400, 3, generator=g) * 10, "rgb": torch.randn(400, 3, generator=g)}
    ref_proj, ref, ref_grads = outputs_and_grads(lambda a: reference(a, degree, K, V, w, h), x, weights)
    proj, out, grads = outputs_and_grads(lambda a: project_shade(
        a["means"], a["quats"], a["scales"], a["opacities"], a["sh"], degree, K, V, w, h), x, weights)
    assert torch.equal(proj.visible, ref_proj.visible) and torch.equal(proj.radii, ref_proj.radii)
    assert not proj.visible[:2].any() and proj.visible[2] and proj.visible.sum() > 300
    assert torch.allclose(proj.extents, ref_proj.extents, rtol=1e-5, atol=1e-5)
    assert torch.equal(torch.isinf(proj.cutoff), torch.isinf(ref_proj.cutoff))
    fin = torch.isfinite(ref_proj.cutoff)
    assert torch.allclose(proj.cutoff[fin], ref_proj.cutoff[fin], atol=1e-6)
    for k in ref:
        scale = ref[k][ref_proj.visible].abs().max().item()
        assert torch.allclose(out[k][ref_proj.visible], ref[k][ref_proj.visible], rtol=0, atol=2e-6 * scale), k
    for k in ref_grads:
        scale = ref_grads[k].abs().max().item()
        assert torch.allclose(grads[k], ref_grads[k], rtol=0, atol=1e-5 * scale), k


def test_rasterize_numba_uses_it_and_matches_torch_backend():
    x = scene(300, 3, 3)
    K, V = camera(64, 64)
    args = (x["means"], x["quats"], x["scales"], x["opacities"], x["sh"], K, V, 64, 64)
    a = rasterize(*args, sh_degree=3, backend="numba")
    b = rasterize(*args, sh_degree=3, backend="torch")
    assert a.alpha.max() > 0.5
    assert (a.color - b.color).abs().max() < 1e-5 and torch.equal(a.radii, b.radii)
