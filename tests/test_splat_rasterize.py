"""The tile rasteriser against the brute-force reference, finite differences, and basic invariants."""

from __future__ import annotations

import math

import pytest
import torch

from gtalker.splat.geometry import project
from gtalker.splat.rasterize import RenderOutput, rasterize
from gtalker.splat.sh import eval_sh, rgb_to_sh


pytestmark = pytest.mark.usefixtures("one_thread")


def random_scene(n: int, seed: int, dtype=torch.float32, spread: float = 0.35):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=g, dtype=dtype) * spread + torch.tensor([0.0, 0.0, 2.5], dtype=dtype)
    quats = torch.randn(n, 4, generator=g, dtype=dtype)
    scales = torch.rand(n, 3, generator=g, dtype=dtype) * 0.08 + 0.01
    opacities = torch.rand(n, generator=g, dtype=dtype) * 0.95 + 0.03
    colors = torch.rand(n, 3, generator=g, dtype=dtype)
    return means, quats, scales, opacities, colors


def camera(width: int, height: int, dtype=torch.float32, yaw: float = 0.1):
    K = torch.tensor([[1.2 * width, 0, (width - 1) / 2], [0, 1.2 * width, (height - 1) / 2], [0, 0, 1]], dtype=dtype)
    c, s = math.cos(yaw), math.sin(yaw)
    V = torch.tensor([[c, 0, s, 0.05], [0, 1, 0, -0.03], [-s, 0, c, 0.1], [0, 0, 0, 1]], dtype=dtype)
    return K, V


TILE_BACKENDS = ("torch", "numba")  # the CPU tile rasterisers: pure torch, and compiled with numba


@pytest.mark.parametrize("backend", TILE_BACKENDS)
@pytest.mark.parametrize("seed,n,width,height", [(0, 150, 40, 40), (1, 400, 53, 37), (2, 60, 16, 70)])
def test_tiles_equal_reference(seed, n, width, height, backend):
    scene = random_scene(n, seed)
    K, V = camera(width, height)
    bg = torch.rand(height, width, 3, generator=torch.Generator().manual_seed(seed))
    a = rasterize(*scene, K, V, width, height, background=bg, backend=backend)
    b = rasterize(*scene, K, V, width, height, background=bg, backend="reference")
    assert a.alpha.max() > 0.9, "scene should cover part of the image"
    for field in ("color", "alpha", "depth"):
        diff = (getattr(a, field) - getattr(b, field)).abs().max().item()
        assert diff <= 1e-5, f"{field} differs by {diff}"
    assert torch.equal(a.radii, b.radii)


def test_opaque_stack_terminates_like_3dgs():
    """Stacked Gaussians of alpha 0.95: a pixel stops once T*(1-alpha) would drop below 1e-4."""
    n = 6
    means = torch.tensor([[0.0, 0.0, 2.0 + 0.1 * i] for i in range(n)])
    quats = torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1)
    scales = torch.full((n, 3), 0.5)
    opacities = torch.full((n,), 0.95)
    colors = torch.tensor([[0.0, 0, 0]] * 3 + [[1.0, 1, 1]] * 3)
    K = torch.tensor([[10.0, 0, 8.0], [0, 10.0, 8.0], [0, 0, 1]])
    for backend in ("torch", "numba", "reference"):
        out = rasterize(means, quats, scales, opacities, colors, K, torch.eye(4), 16, 16, backend=backend)
        # At the centre pixel T = 0.05^k: 3 Gaussians kept (T = 1.25e-4 >= 1e-4), the 4th would give 6.25e-6.
        assert abs(out.alpha[8, 8, 0].item() - (1 - 0.05 ** 3)) < 1e-6, backend
        assert out.color[8, 8].abs().max().item() < 1e-7, backend
        # Depth = sum of w_i z_i over the kept three.
        w = torch.tensor([0.95, 0.05 * 0.95, 0.0025 * 0.95])
        assert abs(out.depth[8, 8, 0].item() - float((w * means[:3, 2]).sum())) < 1e-5


def test_gradients_equal_reference():
    scene = [t.requires_grad_(True) for t in random_scene(120, 3)]
    scene_b = [t.detach().clone().requires_grad_(True) for t in scene]
    K, V = camera(32, 32)
    bg = torch.rand(32, 32, 3, generator=torch.Generator().manual_seed(5))
    w = torch.rand(32, 32, 5, generator=torch.Generator().manual_seed(6))

    def loss(out: RenderOutput) -> torch.Tensor:
        return (torch.cat([out.color, out.alpha, out.depth], dim=-1) * w).sum()

    a = rasterize(*scene, K, V, 32, 32, background=bg, backend="torch")
    b = rasterize(*scene_b, K, V, 32, 32, background=bg, backend="reference")
    loss(a).backward()
    loss(b).backward()
    for ta, tb, name in zip(scene, scene_b, ("means", "quats", "scales", "opacities", "colors")):
        scale = tb.grad.abs().max().item()
        assert scale > 0, f"no gradient reached {name}"
        assert (ta.grad - tb.grad).abs().max().item() <= 1e-4 * max(scale, 1.0), name
    assert a.means2d.grad is not None and b.means2d.grad is not None
    assert torch.allclose(a.means2d.grad, b.means2d.grad, atol=1e-4)


def test_numba_gradients_equal_torch_autograd():
    """The numba backward kernel against autograd through the torch tile backend, on a scene dense enough
    that pixels stop early (transmittance < 1e-4) and tiles hold long lists."""
    scene = [t.requires_grad_(True) for t in random_scene(500, 11, spread=0.2)]
    scene_b = [t.detach().clone().requires_grad_(True) for t in scene]
    K, V = camera(45, 38)
    bg = torch.rand(38, 45, 3, generator=torch.Generator().manual_seed(3))
    w = torch.randn(38, 45, 5, generator=torch.Generator().manual_seed(4))

    def loss(out: RenderOutput) -> torch.Tensor:
        return (torch.cat([out.color, out.alpha, out.depth], dim=-1) * w).sum()

    a = rasterize(*scene, K, V, 45, 38, background=bg, backend="numba")
    b = rasterize(*scene_b, K, V, 45, 38, background=bg, backend="torch")
    assert (a.alpha > 0.999).any(), "some pixels should come close to termination"
    loss(a).backward()
    loss(b).backward()
    for ta, tb, name in zip(scene, scene_b, ("means", "quats", "scales", "opacities", "colors")):
        scale = tb.grad.abs().max().item()
        assert scale > 0, f"no gradient reached {name}"
        assert (ta.grad - tb.grad).abs().max().item() <= 1e-4 * max(scale, 1.0), name
    assert torch.allclose(a.means2d.grad, b.means2d.grad, atol=1e-4 * b.means2d.grad.abs().max().item())


@pytest.mark.parametrize("backend", ["torch", "numba", "reference"])
def test_gradcheck_float64(backend):
    """Autograd gradients against central finite differences (float64, tiny scene)."""
    dtype = torch.float64
    means, quats, scales, opacities, colors = random_scene(12, 7, dtype=dtype, spread=0.25)
    scales = scales * 2.0
    K, V = camera(18, 18, dtype=dtype)
    bg = torch.rand(18, 18, 3, dtype=dtype, generator=torch.Generator().manual_seed(1))
    w = torch.rand(18, 18, 5, dtype=dtype, generator=torch.Generator().manual_seed(2))

    def f(m, q, s, o, c):
        out = rasterize(m, q, s, o, c, K, V, 18, 18, background=bg, backend=backend)
        return (torch.cat([out.color, out.alpha, out.depth], dim=-1) * w).sum()

    inputs = tuple(t.clone().requires_grad_(True) for t in (means, quats, scales, opacities, colors))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_sh_colors_match_manual_evaluation():
    means, quats, scales, opacities, colors = random_scene(80, 4)
    g = torch.Generator().manual_seed(9)
    sh = torch.randn(80, 16, 3, generator=g) * 0.3
    sh[:, 0] = rgb_to_sh(colors)
    K, V = camera(24, 24)
    out = rasterize(means, quats, scales, opacities, sh, K, V, 24, 24, sh_degree=3, backend="torch")
    campos = -(V[:3, :3].T @ V[:3, 3])
    rgb = eval_sh(3, sh, means - campos)
    manual = rasterize(means, quats, scales, opacities, rgb, K, V, 24, 24, backend="torch")
    assert torch.allclose(out.color, manual.color, atol=1e-6)
    # Degree 0 ignores the higher bands: renders the DC colours.
    dc = rasterize(means, quats, scales, opacities, sh, K, V, 24, 24, sh_degree=0, backend="torch")
    plain = rasterize(means, quats, scales, opacities, colors, K, V, 24, 24, backend="torch")
    assert torch.allclose(dc.color, plain.color, atol=1e-5)


def test_culling_and_background():
    means = torch.tensor([[0.0, 0.0, -1.0], [50.0, 0.0, 2.0], [0.0, 0.0, 2.0]])
    quats = torch.tensor([[1.0, 0, 0, 0]]).repeat(3, 1)
    scales = torch.full((3, 3), 0.05)
    opacities = torch.tensor([0.9, 0.9, 0.001])  # behind, off-screen, transparent
    colors = torch.ones(3, 3)
    K = torch.tensor([[20.0, 0, 10], [0, 20.0, 10], [0, 0, 1]])
    bg = torch.tensor([0.2, 0.4, 0.6])
    out = rasterize(means, quats, scales, opacities, colors, K, torch.eye(4), 21, 21, background=bg, backend="torch")
    assert out.radii.tolist() == [0, 0, 0]
    assert torch.allclose(out.color, bg.expand(21, 21, 3))
    assert out.alpha.abs().max() == 0 and out.depth.abs().max() == 0


def test_depth_is_alpha_weighted_z_and_means2d_projection():
    means = torch.tensor([[0.0, 0.0, 3.0]])
    K = torch.tensor([[30.0, 0, 15], [0, 30.0, 12], [0, 0, 1]])
    out = rasterize(means, torch.tensor([[1.0, 0, 0, 0]]), torch.full((1, 3), 0.2), torch.tensor([0.7]),
                    torch.ones(1, 3), K, torch.eye(4), 31, 25, backend="torch")
    assert torch.allclose(out.means2d, torch.tensor([[15.0, 12.0]]))
    assert torch.allclose(out.depth, out.alpha * 3.0, atol=1e-6)
    assert abs(out.alpha[12, 15, 0].item() - 0.7) < 1e-6


def test_projection_pixel_convention():
    """A point on the optical axis lands on (cx, cy); the pixel (row i, col j) centre is (j, i)."""
    K = torch.tensor([[100.0, 0, 7.0], [0, 100.0, 3.0], [0, 0, 1]])
    p = project(torch.tensor([[0.0, 0, 1.0], [0.01, 0.02, 1.0]]), torch.tensor([[1.0, 0, 0, 0]] * 2),
                torch.full((2, 3), 0.01), torch.tensor([0.5, 0.5]), K, torch.eye(4), 16, 16)
    assert torch.allclose(p.means2d, torch.tensor([[7.0, 3.0], [8.0, 5.0]]))


def test_bad_shapes_raise():
    means, quats, scales, opacities, colors = random_scene(5, 0)
    K, V = camera(8, 8)
    with pytest.raises(ValueError, match="colors"):
        rasterize(means, quats, scales, opacities, colors[:, :2], K, V, 8, 8, backend="torch")
    with pytest.raises(ValueError, match="sh_degree"):
        rasterize(means, quats, scales, opacities, torch.zeros(5, 4, 3), K, V, 8, 8, sh_degree=2, backend="torch")
    with pytest.raises(ValueError, match="background"):
        rasterize(means, quats, scales, opacities, colors, K, V, 8, 8, background=torch.zeros(4, 4, 3))
    with pytest.raises(ValueError, match="backend"):
        rasterize(means, quats, scales, opacities, colors, K, V, 8, 8, backend="opengl")


def test_numba_binning_equals_torch_binning():
    """The numba counting sort gives the torch tile lists exactly (same boxes, same front-to-back order)."""
    from gtalker.splat.backends.numba_tiles import TILE, _bin, _np
    from gtalker.splat.backends.torch_tiles import bin_to_tiles

    scene = random_scene(300, 12)
    K, V = camera(53, 37)
    proj = project(*scene[:4], K, V, 53, 37)
    tile_id, gid = bin_to_tiles(proj, 53, 37)
    idx = torch.nonzero(proj.visible).squeeze(1)
    order = idx[torch.argsort(proj.depths[idx], stable=True)]
    offsets, gids = _bin(_np(order), _np(proj.means2d), _np(proj.extents), 53, 37, TILE, 4, 12)
    assert torch.equal(torch.from_numpy(gids), gid)
    assert torch.equal(torch.from_numpy(offsets[1:] - offsets[:-1]), torch.bincount(tile_id, minlength=12))


@pytest.mark.parametrize("backend", TILE_BACKENDS)
def test_batch_equals_frame_by_frame(backend):
    """rasterize_batch (numba: one kernel call for all frames) = rasterize per camera, images and gradients."""
    from gtalker.splat.rasterize import rasterize_batch

    b_n, n, w, h = 3, 200, 35, 29
    scene = random_scene(n, 21)
    g = torch.Generator().manual_seed(22)
    means = (scene[0][None] + 0.03 * torch.randn(b_n, n, 3, generator=g)).requires_grad_(True)
    colors = torch.rand(b_n, n, 3, generator=g).requires_grad_(True)
    opac = scene[3].clone().requires_grad_(True)  # shared by the frames
    cams = [camera(w, h, yaw=0.1 * b) for b in range(b_n)]
    K = torch.stack([c[0] for c in cams])
    V = torch.stack([c[1] for c in cams])
    bg = torch.rand(b_n, h, w, 3, generator=g)
    wgt = torch.randn(b_n, h, w, 5, generator=g)
    out = rasterize_batch(means, scene[1], scene[2], opac, colors, K, V, w, h, background=bg, backend=backend)
    (torch.cat([out.color, out.alpha, out.depth], -1) * wgt).sum().backward()
    grads = [t.grad.clone() for t in (means, colors, opac)]
    m2d_grad = out.means2d.grad.clone()
    for t in (means, colors, opac):
        t.grad = None
    total = 0
    for b in range(b_n):
        o = rasterize(means[b], scene[1], scene[2], opac, colors[b], K[b], V[b], w, h, background=bg[b],
                      backend=backend)
        for f in ("color", "alpha", "depth"):
            assert (getattr(o, f) - getattr(out, f)[b]).abs().max().item() <= 1e-6, (b, f)
        assert torch.equal(o.radii, out.radii[b])
        total = total + (torch.cat([o.color, o.alpha, o.depth], -1) * wgt[b]).sum()
    total.backward()
    for got, t in zip(grads, (means, colors, opac)):
        assert torch.allclose(got, t.grad, atol=1e-5 * max(1.0, t.grad.abs().max().item())), "gradients differ"
    assert m2d_grad.abs().max() > 0


@pytest.mark.parametrize("seed,n,width,height", [(13, 500, 53, 37), (14, 2000, 96, 80)])
def test_numba_images_do_not_depend_on_the_tile_side(seed, n, width, height, monkeypatch):
    """A pixel meets the same Gaussians in the same order whatever the tiles: bit-identical images; the
    gradients differ only in how the per-tile sums are grouped."""
    from gtalker.splat.backends import numba_tiles

    scene = random_scene(n, seed, spread=0.25)
    K, V = camera(width, height)
    wgt = torch.randn(height, width, 5, generator=torch.Generator().manual_seed(seed))
    outs, grads = [], []
    for tile in (16, 8, 32):
        monkeypatch.setattr(numba_tiles, "TILE", tile)
        leaves = [t.clone().requires_grad_(True) for t in scene]
        out = rasterize(*leaves, K, V, width, height, backend="numba")
        (torch.cat([out.color, out.alpha, out.depth], -1) * wgt).sum().backward()
        outs.append(out)
        grads.append([t.grad for t in leaves])
    assert (outs[0].alpha > 0.999).any() and (outs[0].alpha < 0.5).any()
    for out, grad in zip(outs[1:], grads[1:]):
        for field in ("color", "alpha", "depth"):
            assert torch.equal(getattr(out, field), getattr(outs[0], field)), field
        for got, ref in zip(grad, grads[0]):
            assert torch.allclose(got, ref, rtol=1e-5, atol=1e-6 * max(1.0, ref.abs().max().item()))


def test_numba_row_spans_hold_every_pixel_the_exact_test_passes():
    """The per-row pre-filter keeps every (pixel, Gaussian) with float32 q >= cutoff, for round,
    elongated, rotated, nearly flat and faint Gaussians; non-positive-definite and NaN conics get whole
    rows; and it drops most of a tile for small Gaussians (it filters)."""
    import numpy as np

    from gtalker.splat.backends.common import cutoff_q
    from gtalker.splat.backends.numba_tiles import _row_spans

    rng = np.random.default_rng(5)
    m, tile, x0, y0, width, height = 400, 16, 32, 16, 53, 37
    angle = rng.uniform(0, np.pi, m)
    sd = np.exp(rng.uniform(np.log(0.3), np.log(12.0), (m, 2)))
    sd[:40, 1] = sd[:40, 0] * 1e-3  # nearly flat
    rot = np.stack([np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)], 1).reshape(m, 2, 2)
    cov = rot @ (sd[:, :, None] ** 2 * np.eye(2)) @ rot.transpose(0, 2, 1) + 0.3 * np.eye(2)
    conic = np.linalg.inv(cov)
    log_o = np.log(rng.uniform(1e-3, 1.0, m))
    par = np.empty((m, 7), np.float32)
    par[:, 0] = rng.uniform(x0 - 20, x0 + tile + 20, m)
    par[:, 1] = rng.uniform(y0 - 20, y0 + tile + 20, m)
    par[:, 2], par[:, 3], par[:, 4] = -conic[:, 0, 0] / 2, -conic[:, 1, 1] / 2, -conic[:, 0, 1]
    par[:, 5] = log_o
    par[:, 6] = cutoff_q(torch.from_numpy(par[:, 5].copy())).numpy()
    par[0, 2] = 0.1  # not positive definite
    par[1, 4] = np.nan
    count, idx, lo, hi = _row_spans(par, x0, y0, tile, width, height)
    rows, cols = min(tile, height - y0), min(tile, width - x0)
    xs = np.arange(x0, x0 + cols, dtype=np.float32)
    kept = np.zeros((rows, m, cols), bool)
    for r in range(rows):
        for k in range(count[r]):
            kept[r, idx[r, k], lo[r, k] - x0:hi[r, k] - x0 + 1] = True
        assert np.all(np.diff(idx[r, :count[r]]) > 0), "the tile's order is kept"
    passed = 0
    for r in range(rows):
        dy = np.float32(y0 + r) - par[:, 1]
        dx = xs[None, :] - par[:, 0:1]
        q = (par[:, 2:3] * dx * dx) + (par[:, 3:4] * dy[:, None] * dy[:, None] + par[:, 5:6]) \
            + (par[:, 4:5] * dx) * dy[:, None]
        inside = q >= par[:, 6:7]
        passed += int(inside.sum())
        assert not np.any(inside & ~kept[r]), f"row {r}: a pixel the exact test passes was dropped"
    assert kept[:, 0].all() and kept[:, 1].all(), "degenerate conics must get whole rows"
    assert passed > 1000 and kept.sum() < 0.5 * kept.size

