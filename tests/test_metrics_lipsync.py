"""Mouth landmarks (LMD, opening) and the weight-free lip-sync score on known signals."""

import numpy as np
import pytest

from gtalker.metrics.landmarks import MouthMeter, fill_boxes, mouth_distance, mouth_opening
from gtalker.metrics.lipsync import best_offset, energy_envelope, lipsync_scores, pearson, shifted_correlations


def face_points(gap: float = 10.0) -> np.ndarray:
    """68 points with eye corners 100 px apart and an inner-lip gap of `gap` px."""
    pts = np.zeros((68, 2))
    pts[36], pts[45] = (150, 200), (250, 200)
    for top, bottom, x in ((61, 67, 190), (62, 66, 200), (63, 65, 210)):
        pts[top], pts[bottom] = (x, 300), (x, 300 + gap)
    return pts


def test_lmd_of_shifted_landmarks():
    pts = np.random.default_rng(0).uniform(0, 512, (68, 2))
    shifted = pts.copy()
    shifted[48:68] += (3.0, 4.0)
    assert mouth_distance(shifted, pts) == pytest.approx(5.0)
    shifted[:48] += 100  # only the mouth counts
    assert mouth_distance(shifted, pts) == pytest.approx(5.0)


def test_mouth_opening_normalised_by_eye_distance():
    assert mouth_opening(face_points(10)) == pytest.approx(0.1)
    assert mouth_opening(face_points(10) * 2) == pytest.approx(0.1)  # scale-free
    assert mouth_opening(face_points(0)) == 0.0


def test_fill_boxes_uses_nearest():
    assert fill_boxes([None, (1, 1, 2, 2), None, None, (5, 5, 6, 6)]) == \
        [(1, 1, 2, 2), (1, 1, 2, 2), (1, 1, 2, 2), (5, 5, 6, 6), (5, 5, 6, 6)]
    assert fill_boxes([None, None]) == [None, None]


def test_dlib_lmd_on_a_real_face_follows_a_shift():
    """The astronaut photo moved 4 px right, measured in the same (original) box: LMD ~ 4 px."""
    from skimage.data import astronaut

    img = np.ascontiguousarray(astronaut()[0:256, 100:356])
    meter = MouthMeter()
    box = meter.face_box(img)
    assert box is not None
    lms = meter.landmarks(img, box)
    assert lms.shape == (68, 2)
    assert box[0] - 10 <= lms[48:68, 0].min() and lms[48:68, 0].max() <= box[2] + 10
    moved = meter.landmarks(np.roll(img, 4, axis=1), box)
    assert 2.5 < mouth_distance(moved, lms) < 5.5
    assert meter.face_box(np.zeros((128, 128, 3), np.uint8)) is None


def test_pearson_edge_cases():
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(pearson([1, 1, 1, 1], [1, 2, 3, 4]))
    assert pearson([1, 2, np.nan, 4, 5], [1, 2, 100, 4, 5]) == pytest.approx(1.0)


def smooth_signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.convolve(rng.normal(size=n + 8), np.ones(5) / 5, mode="valid")[:n]


@pytest.mark.parametrize("lag", [-4, 0, 3])
def test_offset_recovered_on_shifted_signal(lag: int):
    energy = smooth_signal(300, 1)
    frames = np.arange(100, 200)
    rng = np.random.default_rng(2)
    mouth = energy[frames - lag] + 0.05 * rng.normal(size=len(frames))  # mouth lags audio by `lag`
    corrs = shifted_correlations(mouth, frames, energy, 10)
    d, r = best_offset(corrs)
    assert d == lag and r > 0.9
    scores = lipsync_scores(mouth, mouth, frames, energy, 10)
    assert scores["av_offset_frames"] == lag and scores["mouth_open_r"] == pytest.approx(1.0)


def test_offset_none_when_uninformative():
    d, r = best_offset({-1: float("nan"), 0: float("nan")})
    assert d is None and np.isnan(r)


def test_energy_envelope_places_bursts():
    sr, fps = 16000, 25
    x = np.zeros(sr * 2)
    x[int(0.8 * sr):int(1.2 * sr)] = 0.5 * np.sin(np.arange(int(0.4 * sr)) * 0.3)
    env = energy_envelope(x, 50, fps, sr)
    assert env.shape == (50,)
    assert env[25] == pytest.approx(0.0, abs=0.5)  # the loudest frames (0 dB)
    assert env[5] == -60.0 and env[45] == -60.0  # floor
    assert np.all(energy_envelope(np.zeros(sr), 25, fps, sr) == -60.0)
