"""Intrinsics rescaling (gtalker.camera) under the pixel-centre convention, for arrays and tensors."""

import numpy as np
import pytest
import torch

from gtalker.camera import scale_intrinsics


def test_intrinsics_follow_pixel_centre_convention():
    K = np.array([[100.0, 0, 63.5], [0, 100.0, 63.5], [0, 0, 1]])
    half = scale_intrinsics(K, 0.5)
    # The image centre (W-1)/2 maps to the new centre; focal halves.
    assert half[0, 2] == pytest.approx(31.5) and half[0, 0] == pytest.approx(50.0)
    assert K[0, 0] == 100.0  # the input is left alone
    wide = scale_intrinsics(K, 2.0, 0.5)
    assert wide[0, 2] == pytest.approx(127.5) and wide[1, 2] == pytest.approx(31.5)
    assert wide[0, 0] == pytest.approx(200.0) and wide[1, 1] == pytest.approx(50.0)


def test_tensor_and_array_agree():
    K = np.array([[310.0, 1.5, 40.2], [0, 305.0, 47.9], [0, 0, 1]])
    t = scale_intrinsics(torch.tensor(K), 0.37)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), scale_intrinsics(K, 0.37), rtol=0, atol=1e-12)
