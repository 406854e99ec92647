"""A lip-sync score that needs no learned weights.

- r of rendered vs real mouth opening (per frame, from landmarks): does the render open the mouth when
  the person did?
- the audio-visual offset: the shift d in [-N, N] frames that maximises the correlation between the
  rendered mouth opening at frame t and the audio energy at frame t - d (d > 0: the mouth lags the
  audio), with that best correlation and the one at d = 0.
"""

from __future__ import annotations

import numpy as np

from gtalker.common import SAMPLE_RATE


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r over the entries where both are finite; NaN when either is constant or < 3 values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def energy_envelope(samples: np.ndarray, n_frames: int, fps: float, sample_rate: int = SAMPLE_RATE,
                    floor_db: float = -60.0) -> np.ndarray:
    """Log RMS energy (dB relative to the loudest frame, floored) of the audio played while frame k is
    shown, [k / fps, (k + 1) / fps) -> [n_frames]."""
    x = np.asarray(samples, dtype=np.float64)
    out = np.empty(n_frames)
    for k in range(n_frames):
        seg = x[int(round(k * sample_rate / fps)):int(round((k + 1) * sample_rate / fps))]
        out[k] = np.sqrt(np.mean(seg * seg)) if len(seg) else 0.0
    peak = out.max() if n_frames else 0.0
    if peak <= 0:
        return np.full(n_frames, floor_db)
    return np.maximum(20.0 * np.log10(np.maximum(out, 1e-12) / peak), floor_db)


def shifted_correlations(mouth: np.ndarray, frames: np.ndarray, energy: np.ndarray,
                         max_offset: int) -> dict[int, float]:
    """r(mouth[t], energy[frames[t] - d]) for d in [-max_offset, max_offset]; energy covers all frames."""
    frames = np.asarray(frames, dtype=np.int64)
    out = {}
    for d in range(-max_offset, max_offset + 1):
        src = frames - d
        ok = (src >= 0) & (src < len(energy))
        out[d] = pearson(np.asarray(mouth)[ok], energy[src[ok]]) if ok.sum() >= 3 else float("nan")
    return out


def best_offset(corrs: dict[int, float]) -> tuple[int | None, float]:
    """The shift with the highest correlation (smallest |d| on ties) and that correlation."""
    finite = {d: r for d, r in corrs.items() if np.isfinite(r)}
    if not finite:
        return None, float("nan")
    d = max(sorted(finite, key=abs), key=lambda k: finite[k])
    return d, finite[d]


def lipsync_scores(mouth_rendered: np.ndarray, mouth_real: np.ndarray, frames: np.ndarray,
                   energy: np.ndarray, max_offset: int) -> dict[str, float | int | None]:
    """The weight-free lip-sync numbers for one validation passage."""
    rend = shifted_correlations(mouth_rendered, frames, energy, max_offset)
    real = shifted_correlations(mouth_real, frames, energy, max_offset)
    d, r = best_offset(rend)
    d_real, r_real = best_offset(real)
    return {
        "mouth_open_r": pearson(mouth_rendered, mouth_real),
        "av_offset_frames": d, "av_corr_best": r, "av_corr_at_0": rend[0],
        "av_offset_frames_real": d_real, "av_corr_best_real": r_real, "av_corr_at_0_real": real[0],
        "max_offset": max_offset,
    }
