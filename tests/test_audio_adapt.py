"""Feature statistics matching (gtalker.audio.adapt): new speech moved to the training audio's statistics."""

from __future__ import annotations

import numpy as np
import pytest

from gtalker.audio.adapt import channel_stats, match_feature_stats


def test_an_affine_copy_of_the_training_features_maps_back_onto_them() -> None:
    rng = np.random.default_rng(0)
    train = rng.standard_normal((50, 16, 6)).astype(np.float32)
    gain, offset = rng.uniform(0.2, 3.0, 6), rng.uniform(-4, 4, 6)
    other_voice = (train * gain + offset).astype(np.float32)   # another level / microphone per channel
    matched = match_feature_stats(other_voice, train)
    assert matched.dtype == np.float32 and matched.shape == train.shape
    np.testing.assert_allclose(matched, train, atol=1e-4)


def test_statistics_become_the_reference_and_time_course_is_kept() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(2.0, 0.5, (40, 16, 3))
    new = rng.normal(-1.0, 3.0, (30, 16, 3))
    out = match_feature_stats(new, ref)
    mean, sd = channel_stats(out)
    ref_mean, ref_sd = channel_stats(ref)
    np.testing.assert_allclose(mean, ref_mean, atol=1e-9)
    np.testing.assert_allclose(sd, ref_sd, atol=1e-9)
    for c in range(3):  # per channel an increasing affine map: the order over time is the same
        assert np.corrcoef(out[..., c].ravel(), new[..., c].ravel())[0, 1] > 0.999999


def test_a_constant_channel_takes_the_reference_mean_and_channels_must_agree() -> None:
    ref = np.random.default_rng(2).normal(1.0, 1.0, (10, 16, 2))
    new = np.zeros((5, 16, 2))
    new[..., 1] = np.arange(5)[:, None]
    out = match_feature_stats(new, ref)
    np.testing.assert_allclose(out[..., 0], channel_stats(ref)[0][0])
    assert np.isfinite(out).all()
    with pytest.raises(ValueError, match="channels"):
        match_feature_stats(np.zeros((5, 16, 3)), ref)
