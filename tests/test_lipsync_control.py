"""The lip-sync control's passage choice, chance level, inputs and verdict (gtalker.metrics.control)."""

import json

import numpy as np
import soundfile

from gtalker.metrics.control import (audio_drives_mouth, pick_shift, shift_correlations, summarise,
                                     write_control_inputs)


def _speech_like(n: int, seed: int) -> np.ndarray:
    """A smooth random mouth opening (low-passed noise), like speech at 25 fps."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n + 20)
    return np.convolve(x, np.hanning(9), mode="same")[10:10 + n]


def test_shifts_keep_away_from_the_passage_and_chance_exceeds_white_noise_level() -> None:
    gap = _speech_like(500, 0)
    val = list(range(300, 346))
    shifts, r = shift_correlations(gap, val)
    assert shifts.min() >= len(val) and shifts.max() <= len(gap) - len(val)
    shift, best, chance_95 = pick_shift(gap, val)
    assert abs(best) == np.abs(r).min() and shift in shifts
    # Smooth signals on 46 frames correlate by chance far above 2/sqrt(46) ~ 0.3.
    assert chance_95 > 2 / np.sqrt(len(val))


def test_a_repeated_passage_is_found_as_fully_correlated() -> None:
    gap = _speech_like(200, 1)
    gap[100:150] = gap[20:70]
    shifts, r = shift_correlations(gap, list(range(100, 150)))
    assert r[list(shifts).index(80)] > 0.999


def _cases(own_r: float, heard: float, own_sd: float, silent_sd: float) -> dict[str, dict]:
    return {"own": {"mouth_open_r": own_r, "heard_mouth_r": own_r, "mouth_motion_sd": own_sd},
            "other": {"mouth_open_r": 0.2, "heard_mouth_r": heard, "mouth_motion_sd": own_sd},
            "silence": {"mouth_open_r": 0.4, "mouth_motion_sd": silent_sd}}


def test_verdict() -> None:
    assert audio_drives_mouth(_cases(0.9, 0.8, 0.03, 0.01))
    assert not audio_drives_mouth(_cases(0.6, 0.8, 0.03, 0.01))     # own mouth off
    assert not audio_drives_mouth(_cases(0.9, 0.3, 0.03, 0.01))     # ignores the audio it hears
    assert not audio_drives_mouth(_cases(0.9, 0.8, 0.03, 0.02))     # moves without speech
    assert not audio_drives_mouth(_cases(0.9, None, 0.03, 0.01))    # no figure: not a pass


def _mouth_landmarks(openings: np.ndarray) -> np.ndarray:
    """68-point landmarks whose inner-lip gap over the eye-corner distance (100 px) is `openings`."""
    lms = np.zeros((len(openings), 68, 2))
    lms[:, 36] = (0.0, 0.0)
    lms[:, 45] = (100.0, 0.0)
    for top, bottom in ((61, 67), (62, 66), (63, 65)):
        lms[:, top] = (50.0, 80.0)
        lms[:, bottom, 0] = 50.0
        lms[:, bottom, 1] = 80.0 + 100.0 * openings
    return lms


def test_inputs_shift_the_features_and_the_summary_follows_what_each_rendering_heard(tmp_path) -> None:
    n, fps = 300, 25.0
    opening = np.abs(_speech_like(n, 2)) * 0.1
    np.savez(tmp_path / "landmarks.npz", lms=_mouth_landmarks(opening))
    val = list(range(250, 300))
    (tmp_path / "split.json").write_text(json.dumps({"train": list(range(250)), "val": val}))
    feats = np.random.default_rng(0).standard_normal((n, 16, 4)).astype(np.float32)
    np.save(tmp_path / "features.npy", feats)
    info = write_control_inputs(tmp_path / "features.npy", tmp_path / "landmarks.npz", tmp_path / "split.json",
                                n, fps, tmp_path / "control")
    shift = info["other_shift_frames"]
    np.testing.assert_array_equal(np.load(tmp_path / "control" / "features_other.npy"), np.roll(feats, shift, 0))
    silence, rate = soundfile.read(tmp_path / "control" / "silence.wav")
    assert rate == 16000 and len(silence) >= 16000 * n / fps and not silence.any()
    assert json.loads((tmp_path / "control" / "control.json").read_text())["other_shift_frames"] == shift
    idx = np.asarray(val)

    def metrics(rendered: np.ndarray) -> dict:
        return {"mouth_open_r": float(np.corrcoef(rendered, opening[idx])[0, 1]),
                "per_frame": {"mouth_open_rendered": rendered.tolist()}}

    # A model driven by the audio: "other" follows the passage it heard, silence stays shut.
    good = summarise(info, {"own": metrics(opening[idx]), "other": metrics(opening[(idx - shift) % n]),
                            "silence": metrics(np.full(len(val), 0.01) + 1e-4 * np.arange(len(val)))},
                     opening, val)
    assert good["cases"]["other"]["heard_mouth_r"] > 0.999 and good["silence_motion_share"] < 0.1
    assert good["audio_drives_mouth"]
    # A model that plays the validation mouth whatever it hears (driven by the poses).
    bad = summarise(info, {c: metrics(opening[idx]) for c in ("own", "other", "silence")}, opening, val)
    assert bad["silence_motion_share"] == 1.0 and not bad["audio_drives_mouth"]
