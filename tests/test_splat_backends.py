"""Backend selection and the GPU wrappers' camera maths and error messages (no GPU needed)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from gtalker.common import InputError
from gtalker.splat.backends.inria_backend import projection_matrix
from gtalker.splat.rasterize import rasterize, resolve_backend


def test_auto_is_numba_on_cpu():
    """numba (exact and faster in benchmarks/rasterize.py) is the CPU default when installed."""
    expected = "numba" if importlib.util.find_spec("numba") is not None else "torch"
    assert resolve_backend("auto", torch.device("cpu")) == expected
    assert resolve_backend("reference", torch.device("cpu")) == "reference"
    with pytest.raises(ValueError):
        resolve_backend("vulkan", torch.device("cpu"))


def test_inria_projection_matches_pinhole_pixels():
    """ndc -> pixel as the 3DGS kernel does it, ((ndc + 1) W - 1) / 2, must equal fx x/z + cx."""
    K = torch.tensor([[140.0, 0, 61.3], [0, 150.0, 40.7], [0, 0, 1]], dtype=torch.float64)
    W, H = 128, 96
    P = projection_matrix(K, W, H, 0.01, 100.0)
    pts = torch.tensor([[0.1, -0.2, 2.0], [-0.3, 0.05, 1.5], [0.0, 0.0, 3.0]], dtype=torch.float64)
    clip = torch.cat([pts, torch.ones(3, 1, dtype=torch.float64)], 1) @ P.T
    ndc = clip[:, :3] / clip[:, 3:4]
    pix = torch.stack([((ndc[:, 0] + 1) * W - 1) / 2, ((ndc[:, 1] + 1) * H - 1) / 2], 1)
    expected = torch.stack([K[0, 0] * pts[:, 0] / pts[:, 2] + K[0, 2], K[1, 1] * pts[:, 1] / pts[:, 2] + K[1, 2]], 1)
    assert torch.allclose(pix, expected, atol=1e-9)
    assert torch.all((ndc[:, 2] > 0) & (ndc[:, 2] < 1))


def _scene():
    return (torch.zeros(2, 3) + torch.tensor([0, 0, 2.0]), torch.tensor([[1.0, 0, 0, 0]] * 2), torch.full((2, 3), 0.1),
            torch.full((2,), 0.5), torch.rand(2, 3), torch.tensor([[20.0, 0, 8], [0, 20.0, 8], [0, 0, 1]]), torch.eye(4))


@pytest.mark.parametrize("backend,package", [("gsplat", "gsplat"), ("inria", None)])
def test_gpu_backends_fail_clearly_without_cuda(backend, package):
    installed = (importlib.util.find_spec(package) is not None) if package else (
        importlib.util.find_spec("diff_gaussian_rasterization") is not None
        or importlib.util.find_spec("gaussian_splatting") is not None)
    with pytest.raises(InputError) as err:
        rasterize(*_scene(), 16, 16, backend=backend)
    msg = str(err.value)
    assert "torch" in msg  # names the CPU alternative
    assert ("CUDA" in msg) if installed else ("pip install" in msg or "build" in msg)
