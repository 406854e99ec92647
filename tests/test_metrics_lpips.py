"""LPIPS (AlexNet, v0.1 layout) on test-made weights of the right shapes."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gtalker.common import InputError
from gtalker.metrics.lpips import CHANNELS, alexnet_features, load_lpips, lpips_distance

CONVS = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}


def make_weights(folder: Path, seed: int = 0) -> tuple[Path, Path, dict, dict]:
    """A torchvision-layout AlexNet file (with classifier keys) and an lpips-layout linear file."""
    g = torch.Generator().manual_seed(seed)
    alex = {}
    for idx, shape in CONVS.items():
        fan_in = shape[1] * shape[2] * shape[3]
        alex[f"features.{idx}.weight"] = torch.randn(shape, generator=g) / fan_in ** 0.5
        alex[f"features.{idx}.bias"] = torch.randn(shape[0], generator=g) * 0.01
    alex["classifier.1.weight"] = torch.zeros(4, 9216)  # present in torchvision files, unused here
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for i, c in enumerate(CHANNELS)}
    a, b = folder / "alexnet.pth", folder / "lin.pth"
    torch.save(alex, a)
    torch.save(lin, b)
    return a, b, alex, lin


def reference_lpips(alex: dict, lin: dict, x: torch.Tensor, y: torch.Tensor) -> float:
    """The LPIPS formula spelled out with functional ops, independent of the module code."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(z):
        z = (z - shift) / scale
        h1 = F.relu(F.conv2d(z, alex["features.0.weight"], alex["features.0.bias"], stride=4, padding=2))
        h2 = F.relu(F.conv2d(F.max_pool2d(h1, 3, 2), alex["features.3.weight"], alex["features.3.bias"], padding=2))
        h3 = F.relu(F.conv2d(F.max_pool2d(h2, 3, 2), alex["features.6.weight"], alex["features.6.bias"], padding=1))
        h4 = F.relu(F.conv2d(h3, alex["features.8.weight"], alex["features.8.bias"], padding=1))
        h5 = F.relu(F.conv2d(h4, alex["features.10.weight"], alex["features.10.bias"], padding=1))
        return [h1, h2, h3, h4, h5]

    total = 0.0
    for i, (a, b) in enumerate(zip(feats(x), feats(y))):
        a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
        b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
        w = lin[f"lin{i}.model.1.weight"].view(1, -1, 1, 1)
        total += float(((a - b) ** 2 * w).sum(dim=1).mean())
    return total


def test_backbone_layout_matches_torchvision_names():
    shapes = {k: tuple(v.shape) for k, v in alexnet_features().state_dict().items()}
    assert shapes == {**{f"{i}.weight": s for i, s in CONVS.items()}, **{f"{i}.bias": (s[0],) for i, s in CONVS.items()}}


def test_lpips_matches_formula_and_basic_properties(tmp_path: Path):
    a_path, l_path, alex, lin = make_weights(tmp_path)
    model = load_lpips(a_path, l_path)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(96, 96, 3)).astype(np.uint8)
    noisy = np.clip(img + rng.normal(0, 25, img.shape), 0, 255).astype(np.uint8)
    noisier = np.clip(img + rng.normal(0, 80, img.shape), 0, 255).astype(np.uint8)
    d = lpips_distance(model, img, noisy)
    assert lpips_distance(model, img, img) == pytest.approx(0.0, abs=1e-7)
    assert d == pytest.approx(lpips_distance(model, noisy, img), rel=1e-5)
    assert lpips_distance(model, img, noisier) > d > 0
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    y = torch.from_numpy(noisy).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert d == pytest.approx(reference_lpips(alex, lin, x, y), rel=1e-4)


def test_missing_and_wrong_weights(tmp_path: Path):
    a_path, l_path, alex, lin = make_weights(tmp_path)
    with pytest.raises(InputError, match="download_lpips_weights"):
        load_lpips(tmp_path / "none.pth", l_path)
    lin["lin2.model.1.weight"] = torch.rand(1, 10, 1, 1)
    bad = tmp_path / "bad.pth"
    torch.save(lin, bad)
    with pytest.raises(InputError, match="wrong shape"):
        load_lpips(a_path, bad)
