"""MFCCs with python_speech_features conventions (used by the DeepSpeech input and SyncNet)."""

import numpy as np
import pytest

from gtalker.audio.mfcc import frame_count, hz_to_mel, mel_filterbank, mel_to_hz, mfcc


def test_frame_count_and_shape():
    assert frame_count(100, 400, 160) == 1
    assert frame_count(400, 400, 160) == 1
    assert frame_count(401, 400, 160) == 2
    x = np.random.default_rng(0).normal(size=16000)
    assert mfcc(x, n_ceps=13).shape == (frame_count(16000, 400, 160), 13)


def test_mel_scale_roundtrip_and_filters():
    hz = np.array([0.0, 300.0, 1000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, atol=1e-9)
    assert abs(float(hz_to_mel(1000.0)) - 1000.0) < 0.5  # HTK mel: 1000 Hz ~ 1000 mel
    bank = mel_filterbank(26, 512, 16000)
    assert bank.shape == (26, 257)
    assert np.all(bank.max(axis=1) == pytest.approx(1.0))
    peaks = bank.argmax(axis=1)
    assert np.all(np.diff(peaks) > 0)


def test_energy_coefficient_is_log_frame_energy():
    x = np.full(400, 0.5)  # one frame; pre-emphasis leaves 0.5, then 0.015 repeated
    pre = np.append(x[0], x[1:] - 0.97 * x[:-1])
    energy = np.sum(np.abs(np.fft.rfft(pre, 512)) ** 2) / 512
    out = mfcc(x, n_ceps=13)
    assert out.shape == (1, 13)
    assert out[0, 0] == pytest.approx(np.log(energy))


def test_blocked_equals_unblocked():
    x = np.random.default_rng(1).normal(size=12345) * 1000
    np.testing.assert_allclose(mfcc(x, block=7), mfcc(x, block=100000))


def test_matches_python_speech_features():
    psf = pytest.importorskip("python_speech_features")
    x = np.random.default_rng(2).normal(size=16000 * 2 + 77) * 3000
    for n in (13, 26):
        np.testing.assert_allclose(mfcc(x, 16000, n_ceps=n), psf.mfcc(x, 16000, numcep=n), rtol=1e-9,
                                   atol=1e-9)
