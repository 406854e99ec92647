"""Weight-free audio features: a 50 Hz log-mel spectrogram scaled to [0, 1] (0 = silence floor), and the
same per utterance normalised (melnorm: what is said more than who says it).

Frame j is centred on sample 320 j (16 kHz), i.e. the same 50 Hz grid as the reference's DeepSpeech
logits. Levels are relative to the loudest bin of the file (so the recording level does not matter) and
floored `top_db` below it; the result is mapped linearly to [0, 1], which makes the zero padding of the
windows equal to silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gtalker.common import SAMPLE_RATE

HOP = 320  # samples at 16 kHz -> 50 Hz
NORM_MELS = 40    # bands of the melnorm backend
# melnorm: z-scores divided by this. 2 (sd 0.5, rms 0.5, near the mel backend's rms 0.4): at 4 (sd 0.25) the
# talker's audio token barely moved the mouth (benchmarks/audio_pathway.json: mouth change on an audio swap
# 0.0057 after 300 steps, 6x less than on an eye/view swap); at 2, 0.020 after 150 steps, as large as the eye/view's
NORM_SCALE = 2.0


@dataclass(frozen=True)
class MelConfig:
    """Log-mel settings (defaults: 80 bins, 55-7600 Hz, 80 dB range, 25 ms window)."""

    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    top_db: float = 80.0
    n_fft: int = 512
    win_length: int = 400


def log_mel(samples: np.ndarray, cfg: MelConfig = MelConfig(), sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """[T, n_mels] float32 at 50 Hz, values in [0, 1]; T = 1 + len(samples) // 320."""
    import librosa

    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"log_mel expects {SAMPLE_RATE} Hz audio, got {sample_rate}")
    if cfg.fmax > sample_rate / 2 or cfg.fmin >= cfg.fmax:
        raise ValueError(f"need 0 <= fmin < fmax <= {sample_rate // 2}, got fmin={cfg.fmin} fmax={cfg.fmax}")
    y = np.asarray(samples, dtype=np.float32)
    power = librosa.feature.melspectrogram(
        y=y, sr=sample_rate, n_fft=cfg.n_fft, hop_length=HOP, win_length=cfg.win_length,
        center=True, pad_mode="constant", power=2.0, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax)
    return scale_db(power.T, cfg.top_db)


def mel_power(samples: np.ndarray, cfg: MelConfig, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """[T, n_mels] mel power spectrogram at 50 Hz (T = 1 + len(samples) // 320)."""
    import librosa

    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"mel features expect {SAMPLE_RATE} Hz audio, got {sample_rate}")
    if cfg.fmax > sample_rate / 2 or cfg.fmin >= cfg.fmax:
        raise ValueError(f"need 0 <= fmin < fmax <= {sample_rate // 2}, got fmin={cfg.fmin} fmax={cfg.fmax}")
    return librosa.feature.melspectrogram(
        y=np.asarray(samples, dtype=np.float32), sr=sample_rate, n_fft=cfg.n_fft, hop_length=HOP,
        win_length=cfg.win_length, center=True, pad_mode="constant", power=2.0, n_mels=cfg.n_mels,
        fmin=cfg.fmin, fmax=cfg.fmax).T


def normalised_log_mel(samples: np.ndarray, cfg: MelConfig = MelConfig(n_mels=NORM_MELS),
                       sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The melnorm features: log-mel in dB (floored `top_db` below the file's loudest bin), each band
    normalised to zero mean and unit variance over the file, divided by NORM_SCALE: [T, n_mels] float32.

    Removing each band's mean and spread over the utterance takes out most of what is fixed for a voice
    and a recording (vocal-tract colour, microphone, level); what changes from frame to frame (what is
    said) remains. Few, broad bands (40) blur the pitch harmonics, so the voice's pitch matters little.
    """
    power = mel_power(samples, cfg, sample_rate)
    db = relative_db(power, cfg.top_db)
    if db is None:
        return np.zeros(power.shape, dtype=np.float32)
    z = (db - db.mean(axis=0)) / (db.std(axis=0) + 1e-3)
    return (z / NORM_SCALE).astype(np.float32)


def relative_db(power: np.ndarray, top_db: float) -> np.ndarray | None:
    """Power -> dB relative to the file's maximum, floored at -top_db; None for digital silence."""
    peak = float(power.max()) if power.size else 0.0
    if peak <= 1e-20:
        return None
    return np.maximum(10.0 * np.log10(np.maximum(power, peak * 1e-30) / peak), -top_db)


def scale_db(power: np.ndarray, top_db: float) -> np.ndarray:
    """Power -> dB relative to the file's maximum, floored at -top_db, mapped to [0, 1] (float32)."""
    db = relative_db(power, top_db)
    if db is None:  # digital silence: every bin at the floor
        return np.zeros(power.shape, dtype=np.float32)
    return ((db + top_db) / top_db).astype(np.float32)
