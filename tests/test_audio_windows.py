"""Windowing of 50 Hz feature sequences into per-frame windows and the model's 8-window context."""

import numpy as np
import pytest

from gtalker.audio import frame_windows, windows, windows_batch
from gtalker.audio.windowing import resample_sequence


def ramp(t: int, c: int = 2) -> np.ndarray:
    """seq[i] = [i + 1, -(i + 1)]: every step distinguishable, never zero."""
    v = np.arange(1, t + 1, dtype=np.float32)
    return np.stack([v, -v][:c], axis=1)


def test_frame_windows_match_reference_at_25fps():
    seq = ramp(40)
    out = frame_windows(seq, n_frames=20, fps=25)
    assert out.shape == (20, 16, 2) and out.dtype == np.float32
    for k in range(20):
        for s in range(16):
            step = 2 * k - 8 + s  # the reference's windows [2k-8, 2k+8)
            expect = seq[step] if 0 <= step < 40 else np.zeros(2)
            np.testing.assert_array_equal(out[k, s], expect)


def test_frame_windows_other_fps_centres():
    seq = ramp(100)
    out = frame_windows(seq, n_frames=30, fps=30)
    for k in (0, 7, 29):
        centre = int(round(k * 50 / 30))
        assert out[k, 8, 0] == seq[centre, 0]
        assert out[k, 7, 0] == (seq[centre - 1, 0] if centre >= 1 else 0)


def test_windows_zero_padded_context():
    feats = np.arange(1, 6, dtype=np.float32)[:, None, None] * np.ones((5, 16, 3), np.float32)
    w = windows(feats, 0)
    assert w.shape == (8, 16, 3)
    assert np.all(w[:4] == 0)  # frames -4..-1
    np.testing.assert_array_equal(w[4:, 0, 0], [1, 2, 3, 4])
    w = windows(feats, 4)  # frames 0..7, of which 5..7 do not exist
    np.testing.assert_array_equal(w[:, 0, 0], [1, 2, 3, 4, 5, 0, 0, 0])
    b = windows_batch(feats, np.array([0, 4]))
    assert b.shape == (2, 8, 16, 3)
    np.testing.assert_array_equal(b[1], w)


def test_windows_rejects_wrong_rank():
    with pytest.raises(ValueError):
        windows(np.zeros((5, 16)), 0)
    with pytest.raises(ValueError):
        frame_windows(np.zeros(10), 3, 25)


def test_resample_sequence_linear():
    seq = np.array([[0.0], [10.0], [20.0]])
    out = resample_sequence(seq, 50, 100, 5)
    np.testing.assert_allclose(out[:, 0], [0, 5, 10, 15, 20])
