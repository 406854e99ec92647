"""Losses of the deformation stage on known inputs, and the optional VGG perceptual term."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gtalker.common import InputError, sha256_file
from gtalker.imaging import psnr, ssim
from gtalker.talker.losses import lip_l1, talker_loss
from gtalker.talker.perceptual import PerceptualLoss, VGG16Features, load_vgg16

WEIGHTS = {"l1": 0.8, "ssim": 0.2, "lip": 0.4, "perceptual": 0.01}


def images(seed: int = 0, batch: int = 2, size: int = 32) -> torch.Tensor:
    return torch.rand(batch, size, size, 3, generator=torch.Generator().manual_seed(seed))


def test_ssim_is_one_for_identical_images_and_lower_otherwise() -> None:
    a = images(0)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-6)
    assert float(ssim(a, images(1))) < 0.2


def test_ssim_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    x = rng.random((48, 48, 3)).astype(np.float64)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    ours = float(ssim(torch.tensor(x)[None].float(), torch.tensor(y)[None].float()))
    ref = metrics.structural_similarity(x, y, channel_axis=2, data_range=1.0, gaussian_weights=True,
                                        sigma=1.5, use_sample_covariance=False)
    # scikit-image crops the borders, we pad them: close but not identical
    assert ours == pytest.approx(ref, abs=0.02)


def test_lip_l1_only_sees_the_box() -> None:
    pred = torch.zeros(1, 20, 20, 3)
    target = torch.zeros(1, 20, 20, 3)
    target[0, 15:, 15:] = 1.0  # differs only outside the box
    box = torch.tensor([[2, 2, 10, 10]])
    assert float(lip_l1(pred, target, box)) == 0.0
    target[0, 4:6, 4:6] = 1.0  # 4 of 64 pixels inside the box
    assert float(lip_l1(pred, target, box)) == pytest.approx(4 / 64)
    # an empty (off-image) box contributes nothing
    assert float(lip_l1(pred, target, torch.tensor([[30, 30, 40, 40]]))) == 0.0


def test_psnr_of_a_known_error() -> None:
    a = torch.zeros(1, 8, 8, 3)
    b = torch.full((1, 8, 8, 3), 0.1)
    assert float(psnr(a, b)) == pytest.approx(20.0, abs=1e-4)


def test_talker_loss_weights_the_parts() -> None:
    pred, target = images(0), images(1)
    boxes = torch.tensor([[0, 0, 16, 16], [8, 8, 24, 24]])
    total, parts = talker_loss(pred, target, boxes, WEIGHTS)
    expected = 0.8 * parts["l1"] + 0.2 * parts["dssim"] + 0.4 * parts["lip"]
    assert float(total) == pytest.approx(expected, rel=1e-5)
    assert "perceptual" not in parts


def test_perceptual_term_loads_torchvision_layout(tmp_path) -> None:
    torch.manual_seed(0)
    vgg = VGG16Features()
    # the torchvision file has the whole network, classifier included
    state = {f"features.{k}": v for k, v in vgg.features.state_dict().items()}
    state["features.24.weight"] = torch.zeros(512, 512, 3, 3)
    state["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    loaded = load_vgg16(path)
    perc = PerceptualLoss(loaded)
    a, b = images(0, 1, 32), images(1, 1, 32)
    assert float(perc(a, a)) == 0.0
    assert float(perc(a, b)) > 0
    total, parts = talker_loss(a, b, torch.tensor([[0, 0, 8, 8]]), WEIGHTS, perc)
    assert "perceptual" in parts and math.isfinite(float(total))
    assert len(sha256_file(path)) == 64


def test_missing_or_foreign_vgg_weights_name_the_file(tmp_path) -> None:
    with pytest.raises(InputError, match="download_vgg16"):
        load_vgg16(tmp_path / "absent.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"weight": torch.zeros(1)}, bad)
    with pytest.raises(InputError, match="not a VGG16"):
        load_vgg16(bad)


def reference_vgg_loss(vgg: VGG16Features, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The reference's steps (GaussianTalker utils/loss_utils.VGGPerceptualLoss, resize=True): NCHW images
    minus the ImageNet mean over its std, bilinear resize to 224 x 224 (align_corners=False), then the
    blocks features[:4], [4:9], [9:16], [16:23] in turn, summing the L1 distance after each."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (pred.permute(0, 3, 1, 2) - mean) / std
    y = (target.permute(0, 3, 1, 2) - mean) / std
    x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
    y = torch.nn.functional.interpolate(y, size=(224, 224), mode="bilinear", align_corners=False)
    loss = torch.zeros(())
    for lo, hi in ((0, 4), (4, 9), (9, 16), (16, 23)):
        block = vgg.features[lo:hi]
        x, y = block(x), block(y)
        loss = loss + torch.nn.functional.l1_loss(x, y)
    return loss


def test_perceptual_loss_resizes_to_224_as_the_reference() -> None:
    torch.manual_seed(1)
    perc = PerceptualLoss(VGG16Features())
    a, b = images(2, 2, 128), images(3, 2, 128)
    with torch.no_grad():
        ours = float(perc(a, b))
        want = float(reference_vgg_loss(perc.vgg, a, b))
        # the loss at 128 px equals the loss of the same images resized to 224 first (resize and the
        # per-channel normalisation commute), and differs from the loss without any resize
        up = [torch.nn.functional.interpolate(t.permute(0, 3, 1, 2), size=(224, 224), mode="bilinear",
                                              align_corners=False).permute(0, 2, 3, 1) for t in (a, b)]
        resized = float(perc(*up))
        native = sum(float(torch.nn.functional.l1_loss(fa, fb))
                     for fa, fb in zip(perc.vgg(a, size=None), perc.vgg(b, size=None)))
    assert ours == pytest.approx(want, rel=1e-5)
    assert ours == pytest.approx(resized, rel=1e-4)
    assert abs(native - ours) > 0.05 * ours
