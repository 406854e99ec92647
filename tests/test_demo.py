"""The built-in demo generator: deterministic, and its ground truth matches the video and audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gtalker.demo import (VOWEL_OPEN, jaw_maps, build_geometry, make_demo, make_truth, synthesize_speech,
                          truth_head_mask, truth_landmarks)
from gtalker.io.audio import load_audio
from gtalker.io.frames import read_frame
from gtalker.io.video import extract_frames, probe


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("demo")
    make_demo(root / "demo.mp4", root / "truth.npz", seconds=4.0, size=192, seed=3)
    frames = root / "frames"
    extract_frames(root / "demo.mp4", frames, fps=25, size=192)
    return root, dict(np.load(root / "truth.npz")), frames


def test_video_is_h264_aac_25fps(demo: tuple[Path, dict, Path]) -> None:
    root, truth, _ = demo
    info = probe(root / "demo.mp4")
    assert info["codec"] == "h264" and info["audio_codec"] == "aac"
    assert info["fps"] == pytest.approx(25) and info["n_frames"] == 100 == len(truth["mouth_open"])
    assert (info["width"], info["height"]) == (192, 192)


def test_same_seed_same_output_other_seed_differs(demo: tuple[Path, dict, Path], tmp_path: Path) -> None:
    root, truth, frames = demo
    make_demo(tmp_path / "again.mp4", tmp_path / "again.npz", seconds=4.0, size=192, seed=3)
    again = dict(np.load(tmp_path / "again.npz"))
    for key in truth:
        np.testing.assert_array_equal(truth[key], again[key], err_msg=key)
    extract_frames(tmp_path / "again.mp4", tmp_path / "f", fps=25, size=192)
    for i in (0, 37, 99):
        np.testing.assert_array_equal(read_frame(frames, i), read_frame(tmp_path / "f", i))
    other, _ = make_truth(4.0, 192, seed=4)
    assert not np.allclose(other["mouth_open"], truth["mouth_open"])


def test_mouth_opening_follows_audio_energy(demo: tuple[Path, dict, Path]) -> None:
    root, truth, _ = demo
    audio = load_audio(root / "demo.mp4")
    n = len(truth["mouth_open"])
    energy = np.array([np.sqrt(np.mean(audio[i * 640:(i + 1) * 640] ** 2)) for i in range(n)])
    r = np.corrcoef(energy, truth["mouth_open"])[0, 1]
    assert r > 0.6, r


def test_opening_depends_on_the_vowel_not_only_loudness() -> None:
    truth, speech = make_truth(20.0, 128, seed=0)
    vowels = truth["vowel"]
    open_a = truth["mouth_open"][vowels == 0]
    open_i = truth["mouth_open"][vowels == 2]
    assert len(open_a) > 10 and len(open_i) > 10
    assert open_a.mean() > open_i.mean() + 0.25
    # The speech itself is equally loud for both vowels (amplitude drawn from the same range).
    amp_a = np.abs(speech.samples[speech.vowel == 0]).mean()
    amp_i = np.abs(speech.samples[speech.vowel == 2]).mean()
    assert 0.5 < amp_a / amp_i < 2.0
    assert VOWEL_OPEN[0] > VOWEL_OPEN[2]


def test_picture_shows_the_mouth_opening(demo: tuple[Path, dict, Path]) -> None:
    """Dark pixels between the lips (in the decoded video) track the ground-truth opening."""
    _, truth, frames = demo
    dark = []
    for i in range(len(truth["mouth_open"])):
        lm = truth_landmarks(truth, i)
        x0, y0 = lm[48:60].min(axis=0).astype(int)
        x1, y1 = lm[48:60].max(axis=0).astype(int)
        patch = read_frame(frames, i)[y0:y1 + 1, x0:x1 + 1].astype(float)
        dark.append(((patch.sum(axis=2) / 3) < 90).mean())
    r = np.corrcoef(dark, truth["mouth_open"])[0, 1]
    assert r > 0.8, r


def test_blinks_and_head_motion_present(demo: tuple[Path, dict, Path]) -> None:
    _, truth, _ = demo
    full, _ = make_truth(20.0, 128, seed=0)
    assert full["blink"].max() > 0.9 and (full["blink"] > 0.5).sum() >= 3
    assert 0.5 < np.abs(full["rotation_deg"]).max() <= 3.0
    assert np.abs(full["translation"]).max() > 0.5
    assert np.all(np.abs(full["scale"] - 1) < 0.02)


def test_head_mask_moves_with_the_head(demo: tuple[Path, dict, Path]) -> None:
    _, truth, frames = demo
    i = int(np.argmax(np.abs(truth["translation"][:, 0])))
    mask = truth_head_mask(truth, i)
    ref = truth["head_mask_ref"].astype(bool)
    assert 0.1 < mask.mean() < 0.5
    ys, xs = np.nonzero(mask)
    ys0, xs0 = np.nonzero(ref)
    shift = xs.mean() - xs0.mean()
    assert abs(shift - truth["translation"][i, 0]) < 2.0


def test_jaw_opens_downwards_only_below_the_lips() -> None:
    geo = build_geometry(128)
    _, _, dy = jaw_maps(geo, 1.0, 1.0)
    lm = geo.landmarks
    assert dy[int(lm[57, 1]) + 1, int(lm[57, 0])] > 2.0   # lower lip moves
    assert dy[int(lm[51, 1]) - 2, int(lm[51, 0])] < 0.5   # upper lip stays
    assert dy[int(lm[27, 1]), int(lm[27, 0])] == pytest.approx(0.0, abs=1e-3)  # nose bridge stays


def test_speech_is_deterministic() -> None:
    a = synthesize_speech(2.0, seed=11)
    b = synthesize_speech(2.0, seed=11)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert len(a.samples) == 32000 and np.abs(a.samples).max() <= 0.8 + 1e-6


def test_lip_spread_leaves_the_rigid_face_in_place() -> None:
    """Spreading or rounding the lips moves the lips, never the nose tip, eyes, brows or upper outline,
    which the tracking accuracy takes as moving with the head pose alone."""
    geo = build_geometry(256)
    lm = geo.landmarks
    rigid = [0, 16, 17, 21, 22, 26, 27, 28, 29, 30, 36, 39, 42, 45]
    ix, iy = np.round(lm[:, 0]).astype(int), np.round(lm[:, 1]).astype(int)
    for width in (0.45, 1.15):
        map_x, map_y, _ = jaw_maps(geo, 0.0, width)
        moved = np.hypot(map_x[iy, ix] - ix, map_y[iy, ix] - iy)
        assert moved[rigid].max() < 1e-3, (width, moved[rigid].max())
        assert moved[[48, 54]].min() > 2.0, (width, moved[[48, 54]])   # the mouth corners do move


def test_truth_landmarks_follow_the_lip_spread(demo: tuple[Path, dict, Path]) -> None:
    """The generator's landmarks put the mouth corners where the warp puts them: mouth width in the
    landmarks grows with the true width factor."""
    _, truth, _ = demo
    n = len(truth["mouth_width"])
    lms = np.stack([truth_landmarks(truth, i) for i in range(n)])
    width = np.linalg.norm(lms[:, 54] - lms[:, 48], axis=1)
    assert np.corrcoef(width, truth["mouth_width"])[0, 1] > 0.95
