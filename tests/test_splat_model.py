"""Gaussian model, SH, initial scales and densification."""

from __future__ import annotations

import math
import sys

import torch

from gtalker.splat.densify import DensifyConfig, DensifyStrategy, edit_gaussians
from gtalker.splat.gaussians import GaussianModel
from gtalker.splat.knn import mean_knn_distance
from gtalker.splat.sh import eval_sh, rgb_to_sh, sh_basis, sh_to_rgb


def test_sh_basis_is_orthonormal():
    """Monte-Carlo integral of Y_i Y_j over the sphere = identity (checks every constant and sign pattern)."""
    g = torch.Generator().manual_seed(0)
    d = torch.randn(400000, 3, generator=g, dtype=torch.float64)
    d = d / d.norm(dim=1, keepdim=True)
    y = sh_basis(3, d)
    gram = (y.T @ y) * (4 * math.pi / d.shape[0])
    assert torch.allclose(gram, torch.eye(16, dtype=torch.float64), atol=0.02)


def test_sh_dc_roundtrip_and_clamp():
    rgb = torch.rand(10, 3)
    assert torch.allclose(sh_to_rgb(rgb_to_sh(rgb)), rgb, atol=1e-6)
    coeffs = torch.zeros(10, 16, 3)
    coeffs[:, 0] = rgb_to_sh(rgb)
    out = eval_sh(3, coeffs, torch.randn(10, 3))
    assert torch.allclose(out, rgb, atol=1e-6)
    coeffs[:, 0] = -10.0
    assert torch.all(eval_sh(0, coeffs, torch.randn(10, 3)) == 0)


def test_knn_scales_match_brute_force():
    pts = torch.randn(300, 3, generator=torch.Generator().manual_seed(0))
    d = torch.cdist(pts.double(), pts.double())
    d.fill_diagonal_(float("inf"))
    brute = d.topk(3, largest=False).values.mean(dim=1)
    assert torch.allclose(mean_knn_distance(pts).double(), brute, atol=1e-6)
    model = GaussianModel.from_points(pts)
    assert torch.allclose(model.scales()[:, 0].double(), brute, atol=1e-5)
    assert torch.allclose(model.opacities(), torch.full((300,), 0.1), atol=1e-6)


def test_knn_without_scipy_is_the_same(monkeypatch):
    """Where scipy is missing (a GPU machine with torch alone) the brute-force blocks give the same scales."""
    pts = torch.randn(700, 3, generator=torch.Generator().manual_seed(1))
    with_scipy = mean_knn_distance(pts)
    monkeypatch.setitem(sys.modules, "scipy.spatial", None)  # `from scipy.spatial import ...` now fails
    from gtalker.splat import knn

    blocks = knn._brute_force_knn(pts, 3, block=256)
    assert torch.allclose(mean_knn_distance(pts), with_scipy, atol=1e-6)
    assert torch.allclose(blocks, with_scipy, atol=1e-6)


def test_state_dict_resizes_on_load():
    a = GaussianModel.from_points(torch.randn(40, 3))
    a.active_sh_degree = 2
    b = GaussianModel(5)
    b.load_state_dict(a.state_dict())
    assert b.num == 40 and b.active_sh_degree == 2 and torch.equal(b.means, a.means)


def _model_with_optimizer(n: int):
    g = torch.Generator().manual_seed(1)
    model = GaussianModel.from_points(torch.randn(n, 3, generator=g))
    opt = torch.optim.Adam([{"params": [p], "name": k} for k, p in model.params().items()], lr=1e-3)
    loss = sum((p ** 2).sum() for p in model.params().values())
    loss.backward()
    opt.step()
    return model, opt


def test_edit_gaussians_carries_adam_state():
    model, opt = _model_with_optimizer(10)
    before = opt.state[model.means]["exp_avg"].clone()
    keep = torch.tensor([True, False] * 5)
    new = {k: torch.zeros((2,) + tuple(p.shape[1:])) for k, p in model.params().items()}
    edit_gaussians(model, opt, keep, new)
    assert model.num == 7
    state = opt.state[model.means]
    assert torch.equal(state["exp_avg"][:5], before[keep]) and torch.all(state["exp_avg"][5:] == 0)
    assert opt.param_groups[0]["params"][0] is model.means
    assert len(opt.state) == 6  # no stale entries
    opt.step()  # still a consistent optimizer


def test_densify_clone_split_prune_and_cap():
    model, opt = _model_with_optimizer(6)
    with torch.no_grad():
        model.log_scales[:3] = math.log(0.001)  # small -> clone
        model.log_scales[3:] = math.log(0.5)    # large -> split
    strat = DensifyStrategy(DensifyConfig(grad_threshold=0.1, percent_dense=0.01, prune_opacity=0.05,
                                          max_gaussians=100), scene_extent=1.0)
    grad = torch.zeros(6, 2)
    grad[[0, 3], 0] = 1.0  # NDC gradient = 1 * W/2 / ... large for 0 and 3
    strat.accumulate(grad, torch.ones(6, dtype=torch.int32), 2, 2)
    opac = torch.tensor([0.5, 0.5, 0.01, 0.5, 0.5, 0.5])  # Gaussian 2 is pruned
    mean3 = model.means[3].detach().clone()
    stats = strat.densify_and_prune(model, opt, opac)
    assert stats == {"cloned": 1, "split": 1, "pruned": 1, "total": 6 - 1 - 1 + 1 + 2}
    # The split Gaussian's two children have scales / 1.6 and lie near the parent.
    assert torch.allclose(torch.exp(model.log_scales[-1]), torch.full((3,), 0.5 / 1.6))
    assert (model.means[-2:] - mean3).norm(dim=1).max() < 3.0
    # Cap: no growth beyond max_gaussians.
    strat2 = DensifyStrategy(DensifyConfig(grad_threshold=0.1, max_gaussians=model.num), scene_extent=1.0)
    strat2.accumulate(torch.ones(model.num, 2), torch.ones(model.num, dtype=torch.int32), 2, 2)
    n = model.num
    strat2.densify_and_prune(model, opt, torch.full((n,), 0.5))
    assert model.num <= n


def test_opacity_reset_caps():
    model, opt = _model_with_optimizer(4)
    with torch.no_grad():
        model.opacity_logits[:] = torch.tensor([5.0, -8.0, 0.0, 2.0])
    DensifyStrategy(DensifyConfig(opacity_reset_value=0.01), 1.0).reset_opacity(model, opt)
    op = model.opacities()
    assert torch.all(op <= 0.0100001) and op[1] < 0.001
    assert torch.all(opt.state[model.opacity_logits]["exp_avg"] == 0)
