"""Audio features per video frame, [N_frames, 16, C], from any backend's 50 Hz sequence."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from gtalker.audio.mel import NORM_MELS, MelConfig, log_mel, normalised_log_mel
from gtalker.audio.windowing import frame_windows
from gtalker.common import SAMPLE_RATE, InputError
from gtalker.io.audio import fit_length

log = logging.getLogger("gtalker.audio")

BACKENDS = ("mel", "melnorm", "deepspeech", "hubert")


@dataclass(frozen=True)
class FeatureConfig:
    """Backend choice and each backend's settings (config section `audio_features`; MelConfig holds the
    mel keys)."""

    backend: str = "melnorm"
    mel: MelConfig = field(default_factory=MelConfig)
    norm_mels: int = NORM_MELS  # the melnorm backend's mel bands (instead of mel.n_mels)
    deepspeech_model: str = "resources/deepspeech-0.1.0.onnx"
    hubert_model: str = "resources/hubert"
    hubert_layer: int = -1
    device: str = "cpu"
    threads: int = 2


def sequence_50hz(samples: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The chosen backend's [T, C] feature sequence at 50 Hz for 16 kHz mono audio."""
    if cfg.backend == "mel":
        return log_mel(samples, cfg.mel)
    if cfg.backend == "melnorm":
        return normalised_log_mel(samples, dataclasses.replace(cfg.mel, n_mels=cfg.norm_mels))
    if cfg.backend == "deepspeech":
        from gtalker.audio.deepspeech import deepspeech_logits

        return deepspeech_logits(samples, cfg.deepspeech_model, cfg.device, cfg.threads)
    if cfg.backend == "hubert":
        from gtalker.audio.hubert import hubert_states

        return hubert_states(samples, cfg.hubert_model, cfg.device, cfg.hubert_layer)
    raise InputError(f"unknown audio feature backend '{cfg.backend}'; choose one of {', '.join(BACKENDS)}")


def match_length(samples: np.ndarray, n_frames: int, fps: float, sample_rate: int = SAMPLE_RATE,
                 source: str = "audio") -> np.ndarray:
    """Pad audio that is shorter than n_frames / fps with silence (logged); longer audio is kept."""
    need = int(round(n_frames * sample_rate / fps))
    if len(samples) < need:
        missing = (need - len(samples)) / sample_rate
        level = logging.WARNING if missing > 1.0 / fps else logging.INFO
        log.log(level, "%s: %.3f s of audio for %d frames at %g fps (%.3f s); the last %.3f s are "
                "padded with silence", source, len(samples) / sample_rate, n_frames, fps,
                need / sample_rate, missing)
        return fit_length(samples, need)
    return samples


def extract_features(samples: np.ndarray, n_frames: int, fps: float, cfg: FeatureConfig,
                     source: str = "audio") -> np.ndarray:
    """float32 [n_frames, 16, C] aligned to the video frames (frame k centred at k / fps seconds)."""
    if n_frames <= 0:
        raise InputError(f"{source}: need at least one frame, got n_frames={n_frames}")
    if len(samples) == 0:
        raise InputError(f"{source}: the audio is empty")
    samples = match_length(np.asarray(samples, dtype=np.float32), n_frames, fps, source=source)
    seq = sequence_50hz(samples, cfg)
    if not np.all(np.isfinite(seq)):
        raise InputError(f"{source}: the {cfg.backend} features contain NaN/inf")
    return frame_windows(seq, n_frames, fps)


def frames_for_duration(n_samples: int, fps: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Number of video frames that cover the audio at `fps` (at least one)."""
    return max(1, int(round(n_samples / sample_rate * fps)))
