"""Cutting a 50 Hz feature sequence into one 16-step window per video frame, and the model's 8 windows.

The reference feeds DeepSpeech logits (50 Hz) as one 16-step window per 25 fps frame: frame k gets the
50 Hz steps [2k-8, 2k+8), zero-padded outside the audio. For other frame rates the window is centred on
round(k * 50 / fps). The model then takes the 8 windows [k-4, k+4) around frame k, zero-padded.
"""

from __future__ import annotations

import numpy as np

FEATURE_RATE = 50.0  # Hz: 320-sample hop at 16 kHz
WINDOW_STEPS = 16
CONTEXT_FRAMES = 8


def frame_centres(n_frames: int, fps: float, rate: float = FEATURE_RATE) -> np.ndarray:
    """Index in the `rate` Hz sequence at which each video frame's window is centred."""
    return np.round(np.arange(n_frames) * (rate / fps)).astype(np.int64)


def frame_windows(seq: np.ndarray, n_frames: int, fps: float, rate: float = FEATURE_RATE,
                  steps: int = WINDOW_STEPS) -> np.ndarray:
    """Cut a [T, C] sequence at `rate` Hz into float32 windows [n_frames, steps, C] (zero outside)."""
    seq = np.asarray(seq, dtype=np.float32)
    if seq.ndim != 2:
        raise ValueError(f"expected a [T, C] feature sequence, got shape {seq.shape}")
    if n_frames <= 0:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    idx = frame_centres(n_frames, fps, rate)[:, None] + np.arange(steps)[None, :] - steps // 2
    out = np.zeros((n_frames, steps, seq.shape[1]), dtype=np.float32)
    valid = (idx >= 0) & (idx < len(seq))
    out[valid] = seq[idx[valid]]
    return out


def windows(features: np.ndarray, k: int, n: int = CONTEXT_FRAMES) -> np.ndarray:
    """The n windows of frames [k - n/2, k + n/2) from features [N, 16, C] -> float32 [n, 16, C],
    zero-padded: the model's audio context of frame k (the only code that cuts it)."""
    features = np.asarray(features)
    if features.ndim != 3:
        raise ValueError(f"expected features [N, steps, C], got shape {features.shape}")
    idx = np.arange(k - n // 2, k - n // 2 + n)
    out = np.zeros((n,) + features.shape[1:], dtype=np.float32)
    valid = (idx >= 0) & (idx < len(features))
    out[valid] = features[idx[valid]]
    return out


def windows_batch(features: np.ndarray, ks: np.ndarray, n: int = CONTEXT_FRAMES) -> np.ndarray:
    """`windows` for several frames at once -> [len(ks), n, 16, C]."""
    return np.stack([windows(features, int(k), n) for k in np.asarray(ks).reshape(-1)])


def context_windows(features: np.ndarray, n_context: int) -> np.ndarray:
    """[T, C] -> [T, (2 n_context + 1) C]: each step with n_context zero-padded neighbours per side."""
    t, c = features.shape
    padded = np.concatenate([np.zeros((n_context, c)), features, np.zeros((n_context, c))])
    idx = np.arange(t)[:, None] + np.arange(2 * n_context + 1)[None, :]
    return padded[idx].reshape(t, -1)


def resample_sequence(seq: np.ndarray, in_rate: float, out_rate: float, out_len: int) -> np.ndarray:
    """Linearly interpolate a [T, C] sequence sampled at in_rate onto out_len steps at out_rate."""
    seq = np.asarray(seq, dtype=np.float64)
    t_in = np.arange(len(seq)) / in_rate
    t_out = np.arange(out_len) / out_rate
    out = np.empty((out_len, seq.shape[1]), dtype=np.float32)
    for c in range(seq.shape[1]):
        out[:, c] = np.interp(t_out, t_in, seq[:, c])
    return out


def windows_from_steps(steps: np.ndarray, fps: float, rate: float = FEATURE_RATE) -> np.ndarray:
    """Per-frame groups of consecutive steps [N, k, C] (ER-NeRF's aud_hu.npy: [N, 2, 1024], the 50 Hz
    sequence cut into pairs) -> our windows [N, 16, C] of the same sequence."""
    steps = np.asarray(steps, dtype=np.float32)
    if steps.ndim != 3:
        raise ValueError(f"expected [N, k, C] steps per frame, got shape {steps.shape}")
    return frame_windows(steps.reshape(-1, steps.shape[2]), len(steps), fps, rate)


def steps_from_windows(features: np.ndarray, fps: float, rate: float = FEATURE_RATE) -> np.ndarray:
    """Our windows [N, 16, C] -> the steps each frame starts ([N, rate/fps, C]; ER-NeRF's aud_hu.npy
    layout at 25 fps: steps 2k and 2k+1, positions 8 and 9 of window k)."""
    per = int(round(rate / fps))
    if abs(per - rate / fps) > 1e-6:
        raise ValueError(f"{fps} fps does not divide the {rate} Hz feature rate into whole steps")
    features = np.asarray(features)
    return features[:, WINDOW_STEPS // 2:WINDOW_STEPS // 2 + per]
