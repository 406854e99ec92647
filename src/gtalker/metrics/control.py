"""The lip-sync control: does the audio drive the mouth of a trained talker, or do the poses?

The validation passage is rendered three times with the same poses, blinks and torso, changing only the
audio features:

  own      the passage's own audio (the evaluate step's render)
  other    the audio of another passage of the same video (the features `shift` frames away, circularly)
  silence  features of digital silence

`shift` is the one whose passage's real mouth opening is least correlated with the validation passage's,
so every validation frame hears real speech of the same speaker said at another time. The audio drives
the mouth when the own rendering follows its real mouth (r >= OWN_R), the other one follows the real mouth
of the passage it heard (r >= OTHER_R) and the silent one moves at most SILENCE_SHARE of the own one's
spread. `chance_abs_r_95` (the 95th percentile of |r| between the validation passage's real mouth and every
other passage's) says how much a mouth that follows something else still correlates with the validation
mouth by chance on a passage this short.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from gtalker.common import SAMPLE_RATE, InputError, atomic_path, read_json, write_json
from gtalker.io.audio import write_wav
from gtalker.metrics.landmarks import mouth_opening
from gtalker.metrics.lipsync import pearson

OWN_R = 0.7
OTHER_R = 0.5
SILENCE_SHARE = 0.5


def real_openings(landmarks_npz: str | os.PathLike) -> np.ndarray:
    """The real mouth opening of every frame, from the face stage's landmarks."""
    with np.load(landmarks_npz) as data:
        return np.array([mouth_opening(lms) for lms in data["lms"]])


def shift_correlations(gap: np.ndarray, val: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every circular shift at least the passage's length away from it, and the Pearson r of the real mouth
    opening of the validation passage with that of the shifted one (the passage heard at that shift)."""
    idx = np.asarray(val)
    n, m = len(gap), len(val)
    shifts = np.arange(m, n - m + 1)
    r = np.array([pearson(gap[idx], gap[(idx - s) % n]) for s in shifts])
    keep = np.isfinite(r)
    if not keep.any():
        raise InputError(f"the video ({n} frames) is too short for another passage of {m} frames: the lip-sync "
                         "control needs a video at least twice as long as its validation passage")
    return shifts[keep], r[keep]


def pick_shift(gap: np.ndarray, val: list[int]) -> tuple[int, float, float]:
    """The shift whose passage's real mouth opening is least correlated with the validation one's, that r,
    and the chance level: the 95th percentile of |r| over all shifts (speech is smooth, so it is far above
    1/sqrt(m))."""
    shifts, r = shift_correlations(gap, val)
    best = int(np.argmin(np.abs(r)))
    return int(shifts[best]), float(r[best]), float(np.quantile(np.abs(r), 0.95))


def write_control_inputs(features: str | os.PathLike, landmarks: str | os.PathLike, split: str | os.PathLike,
                         n_frames: int, fps: float, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Write the "other" features (the own ones shifted), a silent wav of the video's length (its features
    are made by the audio step) and control.json (the shift and the chance level) into out_dir."""
    own = np.load(features)
    if len(own) != n_frames:
        raise InputError(f"{features}: {len(own)} feature frames for a video of {n_frames} frames; rerun the "
                         "audio features step")
    val = read_json(split)["val"]
    shift, r, chance = pick_shift(real_openings(landmarks), val)
    out = Path(out_dir)
    with atomic_path(out / "features_other.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.roll(own, shift, axis=0))
    write_wav(out / "silence.wav", np.zeros(int(SAMPLE_RATE * n_frames / fps) + SAMPLE_RATE // 10, np.float32))
    info = {"other_shift_frames": shift, "other_real_mouth_r": r, "chance_abs_r_95": chance,
            "val_frames": len(val)}
    write_json(out / "control.json", info)
    return info


def case_figures(metrics: dict[str, Any], heard: np.ndarray | None) -> dict[str, Any]:
    """One rendering's figures: its r against the validation mouth, against the mouth of the passage it
    heard (None for silence) and the spread of its mouth opening."""
    rendered = np.array(metrics["per_frame"]["mouth_open_rendered"], np.float64)
    out = {"mouth_open_r": metrics.get("mouth_open_r"), "mouth_motion_sd": float(np.nanstd(rendered))}
    if heard is not None:
        r = pearson(rendered, heard)
        out["heard_mouth_r"] = r if np.isfinite(r) else None
    return out


def audio_drives_mouth(cases: dict[str, dict[str, Any]]) -> bool:
    """The verdict of the module docstring."""
    own, other, silence = cases["own"], cases["other"], cases["silence"]
    return ((own["mouth_open_r"] or 0) >= OWN_R and (other["heard_mouth_r"] or 0) >= OTHER_R
            and silence["mouth_motion_sd"] <= SILENCE_SHARE * own["mouth_motion_sd"])


def summarise(control: dict[str, Any], metrics: dict[str, dict[str, Any]], opening: np.ndarray,
              val: list[int]) -> dict[str, Any]:
    """The control's figures from the three renderings' metrics (own, other, silence) and the real mouth."""
    idx = np.asarray(val)
    shift = int(control["other_shift_frames"])
    heard = {"own": opening[idx], "other": opening[(idx - shift) % len(opening)], "silence": None}
    missing = [c for c in heard if c not in metrics]
    if missing:
        raise InputError(f"lip-sync control: no metrics for {', '.join(missing)}")
    cases = {c: case_figures(metrics[c], heard[c]) for c in heard}
    own_sd = cases["own"]["mouth_motion_sd"]
    return {**control, "cases": cases,
            "silence_motion_share": cases["silence"]["mouth_motion_sd"] / own_sd if own_sd > 0 else None,
            "audio_drives_mouth": audio_drives_mouth(cases)}
