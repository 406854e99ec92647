"""PLY files: lossless 3DGS round trip, attribute names viewers expect, point clouds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gtalker.common import InputError
from gtalker.splat import ply
from gtalker.splat.gaussians import GaussianModel


def test_gaussian_ply_round_trip_is_lossless(tmp_path):
    g = torch.Generator().manual_seed(0)
    m = GaussianModel(257)
    m.set_params({"means": torch.randn(257, 3, generator=g), "log_scales": torch.randn(257, 3, generator=g),
                  "quats": torch.randn(257, 4, generator=g), "opacity_logits": torch.randn(257, generator=g),
                  "sh_dc": torch.randn(257, 1, 3, generator=g), "sh_rest": torch.randn(257, 15, 3, generator=g)})
    path = tmp_path / "g.ply"
    m.save_ply(str(path))
    back = GaussianModel.from_ply(str(path))
    for name in ("means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest"):
        assert torch.equal(getattr(back, name), getattr(m, name)), name


def test_gaussian_ply_uses_3dgs_layout(tmp_path):
    m = GaussianModel(3)
    with torch.no_grad():
        m.sh_rest[:, 0, 1] = 7.0   # band 1, green -> f_rest_{1*15 + 0}
        m.sh_rest[:, 4, 2] = 5.0   # band 5, blue  -> f_rest_{2*15 + 4}
    path = tmp_path / "g.ply"
    m.save_ply(str(path))
    header = path.read_bytes().split(b"end_header")[0].decode()
    names = [line.split()[-1] for line in header.splitlines() if line.startswith("property")]
    expected = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
                + [f"f_rest_{i}" for i in range(45)] + ["opacity", "scale_0", "scale_1", "scale_2"]
                + [f"rot_{i}" for i in range(4)])
    assert names == expected
    assert "format binary_little_endian 1.0" in header and "element vertex 3" in header
    assert all(line.startswith("property float ") for line in header.splitlines() if line.startswith("property"))
    v = ply.read_vertices(path)
    assert np.all(v["f_rest_15"] == 7.0) and np.all(v["f_rest_34"] == 5.0)
    assert np.count_nonzero(np.stack([v[f"f_rest_{i}"] for i in range(45)])) == 6


def test_points_binary_and_ascii(tmp_path):
    xyz = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    rgb = np.random.default_rng(1).uniform(size=(50, 3))
    ply.write_points(tmp_path / "p.ply", xyz, rgb)
    got, col = ply.read_points(tmp_path / "p.ply")
    assert np.array_equal(got, xyz)
    assert np.allclose(col, np.round(rgb * 255) / 255, atol=1e-6)
    text = "ply\nformat ascii 1.0\ncomment made by hand\nelement vertex 2\nproperty double x\nproperty double y\n" \
           "property double z\nend_header\n1 2 3\n-1 0.5 2\n"
    (tmp_path / "a.ply").write_text(text)
    got, col = ply.read_points(tmp_path / "a.ply")
    assert col is None and np.allclose(got, [[1, 2, 3], [-1, 0.5, 2]])


def test_bad_ply_files_name_the_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        ply.read_points(tmp_path / "missing.ply")
    (tmp_path / "x.ply").write_text("hello\n")
    with pytest.raises(InputError, match="x.ply"):
        ply.read_points(tmp_path / "x.ply")
    ply.write_points(tmp_path / "t.ply", np.zeros((10, 3), np.float32))
    data = (tmp_path / "t.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(data[:-7])
    with pytest.raises(InputError, match="truncated"):
        ply.read_points(tmp_path / "t.ply")
    ply.write_points(tmp_path / "n.ply", np.zeros((2, 3), np.float32))
    with pytest.raises(InputError, match="3DGS"):
        ply.read_gaussians(tmp_path / "n.ply")
