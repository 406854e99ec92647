"""Tri-plane lookups and the CanonicalHead API (save/load, activation, PLY export)."""

from __future__ import annotations

import pytest
import torch

from gtalker.canonical.model import CanonicalHead
from gtalker.canonical.triplane import TriPlane
from gtalker.splat import ply


def test_triplane_lookup_at_grid_vertices():
    tp = TriPlane([-1, -1, -1], [1, 1, 1], channels=4, resolutions=(5, 9))
    # Point on grid vertices of both resolutions: x = 0.5 -> index 3 of 5 (step 0.5), 6 of 9 (step 0.25).
    p = torch.tensor([[0.5, -1.0, 0.0]])
    f = tp(p)
    assert f.shape == (1, 8)
    for r_i, (plane, r) in enumerate(zip(tp.planes, (5, 9))):
        def idx(v: float) -> int:
            return round((v + 1) / 2 * (r - 1))
        x, y, z = idx(0.5), idx(-1.0), idx(0.0)
        # plane k samples (u, v) = two coordinates; grid_sample: u indexes width (last dim), v height.
        expected = plane[0, :, y, x] * plane[1, :, z, x] * plane[2, :, z, y]
        assert torch.allclose(f[0, 4 * r_i:4 * (r_i + 1)], expected, atol=1e-6)


def test_triplane_gradients_reach_planes_and_points():
    tp = TriPlane.around(torch.randn(50, 3))
    pts = torch.randn(20, 3, requires_grad=True)
    tp(pts * 0.3).sum().backward()
    assert pts.grad is not None and pts.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tp.planes)
    assert tp(pts).shape == (20, 64)


@pytest.mark.parametrize("triplane", [True, False])
def test_head_save_load_and_activate(tmp_path, triplane):
    pts = torch.randn(300, 3) * 0.1
    head = CanonicalHead.from_points(pts, torch.rand(300, 3), triplane=triplane)
    head.gaussians.active_sh_degree = 2
    if triplane:
        with torch.no_grad():
            head.triplane.planes[0].add_(torch.randn_like(head.triplane.planes[0]) * 0.1)
    head.save(tmp_path / "head.pt")
    back = CanonicalHead.load(tmp_path / "head.pt")
    r1, r2 = head.raw_attributes(), back.raw_attributes()
    assert set(r1) == {"means", "log_scales", "quats", "opacity_logits", "sh"}
    assert r1["sh"].shape == (300, 16, 3) and r1["opacity_logits"].shape == (300,)
    for k in r1:
        assert torch.equal(r1[k], r2[k]), k
    assert back.gaussians.active_sh_degree == 2
    a = CanonicalHead.activate(r1)
    assert torch.allclose(a["quats"].norm(dim=1), torch.ones(300))
    assert torch.all((a["opacities"] > 0) & (a["opacities"] < 1)) and torch.all(a["scales"] > 0)
    if triplane:
        assert head.features().shape == (300, 64)
    else:
        with pytest.raises(RuntimeError, match="tri-plane"):
            head.features()


def test_export_ply_bakes_network_outputs(tmp_path):
    head = CanonicalHead.from_points(torch.randn(100, 3) * 0.1, torch.rand(100, 3), triplane=True)
    with torch.no_grad():
        head.opacity_mlp[-1].bias.fill_(1.5)
    head.export_ply(tmp_path / "g.ply")
    data = ply.read_gaussians(tmp_path / "g.ply")
    raw = head.raw_attributes()
    assert torch.allclose(torch.from_numpy(data["opacity_logits"]), raw["opacity_logits"].detach(), atol=1e-6)
    assert torch.allclose(torch.from_numpy(data["sh_dc"]), raw["sh"][:, :1].detach(), atol=1e-6)


def test_load_rejects_other_files(tmp_path):
    from gtalker.common import InputError

    torch.save({"format": "something else"}, tmp_path / "x.pt")
    with pytest.raises(InputError, match="not a gtalker canonical head"):
        CanonicalHead.load(tmp_path / "x.pt")
    with pytest.raises(InputError, match="not found"):
        CanonicalHead.load(tmp_path / "missing.pt")
