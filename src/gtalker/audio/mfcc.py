"""MFCCs with the conventions of the python_speech_features package, which the reference's DeepSpeech
input (26 coefficients) and SyncNet's audio stream (13 coefficients) were computed with.

Conventions: pre-emphasis 0.97; 25 ms rectangular frames every 10 ms, the last one zero-padded; power
spectrum |FFT_512|^2 / 512; 26 triangular mel filters (bins floor((nfft+1) f / sr)); natural log; DCT-II
(orthonormal); sinusoidal lifter 22; coefficient 0 replaced by the log frame energy.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import dct

EPS = float(np.finfo(float).eps)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of hz_to_mel."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_filters: int, n_fft: int, sample_rate: int, low_hz: float = 0.0,
                   high_hz: float | None = None) -> np.ndarray:
    """Triangular filters [n_filters, n_fft // 2 + 1] on FFT bins, peaks at 1."""
    high_hz = sample_rate / 2 if high_hz is None else high_hz
    mels = np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), n_filters + 2)
    bins = np.floor((n_fft + 1) * mel_to_hz(mels) / sample_rate).astype(int)
    bank = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        for i in range(lo, mid):
            bank[j, i] = (i - lo) / (mid - lo)
        for i in range(mid, hi):
            bank[j, i] = (hi - i) / (hi - mid)
    return bank


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def frame_count(n_samples: int, frame_len: int, frame_step: int) -> int:
    """Number of frames: at least one, the last one zero-padded."""
    if n_samples <= frame_len:
        return 1
    return 1 + int(math.ceil((n_samples - frame_len) / frame_step))


def mfcc(signal: np.ndarray, sample_rate: int = 16000, n_ceps: int = 13, win_s: float = 0.025,
         step_s: float = 0.01, n_filters: int = 26, n_fft: int = 512, preemph: float = 0.97,
         lifter: int = 22, append_energy: bool = True, block: int = 4096) -> np.ndarray:
    """MFCC matrix [n_frames, n_ceps] (float64), computed in blocks of frames (bounded memory)."""
    x = np.asarray(signal, dtype=np.float64).reshape(-1)
    if len(x) == 0:
        raise ValueError("mfcc of an empty signal")
    x = np.append(x[0], x[1:] - preemph * x[:-1])
    frame_len, frame_step = _round_half_up(win_s * sample_rate), _round_half_up(step_s * sample_rate)
    if frame_len > n_fft:
        raise ValueError(f"frame length {frame_len} exceeds n_fft {n_fft}")
    n = frame_count(len(x), frame_len, frame_step)
    x = np.pad(x, (0, (n - 1) * frame_step + frame_len - len(x)))
    bank = mel_filterbank(n_filters, n_fft, sample_rate)
    lift = 1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(n_ceps) / lifter) if lifter > 0 else 1.0
    out = np.empty((n, n_ceps))
    offsets = np.arange(frame_len)
    for start in range(0, n, block):
        idx = (np.arange(start, min(n, start + block)) * frame_step)[:, None] + offsets[None, :]
        power = np.abs(np.fft.rfft(x[idx], n_fft)) ** 2 / n_fft
        energy = power.sum(axis=1)
        energy[energy == 0] = EPS
        feat = power @ bank.T
        feat[feat == 0] = EPS
        ceps = dct(np.log(feat), type=2, axis=1, norm="ortho")[:, :n_ceps] * lift
        if append_energy:
            ceps[:, 0] = np.log(energy)
        out[start:start + len(idx)] = ceps
    return out
