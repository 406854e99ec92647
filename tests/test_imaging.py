"""PSNR and SSIM (gtalker.imaging) on inputs with known answers, as the evaluation uses them."""

import numpy as np
import pytest
import torch

from gtalker import imaging


def psnr(a, b, mask=None):
    """The evaluation's PSNR: 8-bit images."""
    return imaging.psnr(a, b, mask, data_range=255.0)


def ssim(a, b):
    """The evaluation's SSIM: 8-bit images, windows that fit entirely."""
    return imaging.ssim(a, b, data_range=255.0, border="valid")


def gaussian_window():
    return imaging.gaussian_taps().numpy()


def ssim_map(x, y):
    t = lambda a: torch.from_numpy(np.asarray(a, np.float64))[None, None]  # noqa: E731
    return imaging.ssim_map(t(x), t(y), 255.0, border="valid")[0, 0].numpy()


def test_psnr_known_offset_and_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(50, 200, size=(64, 64, 3)).astype(np.uint8)
    assert psnr(a, a + 5) == pytest.approx(10 * np.log10(255 ** 2 / 25.0), abs=1e-9)  # 34.15 dB
    base = np.full((256, 256, 3), 128.0)
    noisy = np.clip(np.round(base + rng.normal(0, 10, base.shape)), 0, 255)
    assert psnr(base, noisy) == pytest.approx(20 * np.log10(255 / 10.0), abs=0.1)  # ~28.13 dB


def test_psnr_identical_is_finite_and_mask_restricts():
    a = np.zeros((8, 8, 3), np.uint8)
    assert 140 < psnr(a, a) < 160
    b = a.copy()
    b[:4] = 10
    mask = np.zeros((8, 8), bool)
    mask[4:] = True
    assert psnr(a, b, mask=mask) > 140
    assert psnr(a, b, mask=~mask) == pytest.approx(10 * np.log10(255 ** 2 / 100.0))
    with pytest.raises(ValueError):
        psnr(a, b[:4])


def test_ssim_identical_and_constant_images():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(32, 40, 3)).astype(np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x, y = np.full((20, 20), 100.0), np.full((20, 20), 120.0)
    # no variance: the structure term is c2 / c2 = 1, only luminance remains
    assert ssim(x, y) == pytest.approx((2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1))
    assert c2 > 0


def test_ssim_single_window_by_hand():
    """An 11x11 pair has exactly one window: compute the weighted moments directly."""
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 255, (11, 11))
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255)
    w = np.outer(gaussian_window(), gaussian_window())
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
    cxy = (w * (x - mx) * (y - my)).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expect = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    m = ssim_map(x, y)
    assert m.shape == (1, 1)
    assert m[0, 0] == pytest.approx(expect, rel=1e-9)


def test_ssim_matches_scikit_image_standard():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, size=(48, 56, 3)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                data_range=255, channel_axis=2)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-6)
    assert ssim(a, b) < 0.99


def test_ssim_decreases_with_noise():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, size=(40, 40)).astype(float)
    scores = [ssim(a, np.clip(a + rng.normal(0, s, a.shape), 0, 255)) for s in (5, 20, 60)]
    assert scores[0] > scores[1] > scores[2]
    with pytest.raises(ValueError):
        ssim(np.zeros((5, 5)), np.zeros((5, 5)))
