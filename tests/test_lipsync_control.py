"""The lip-sync control's passage choice, chance level and verdict (benchmarks/lipsync_control.py)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from lipsync_control import audio_drives_mouth, pick_shift, shift_correlations  # noqa: E402


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
