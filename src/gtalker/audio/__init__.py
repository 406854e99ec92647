"""Audio features per video frame (mel / DeepSpeech / HuBERT) and the model's window helper.

Public: `windows(features, k)` -> [8, 16, C]; `extract_features(samples, n_frames, fps, cfg)`;
CLI `python -m gtalker.audio features --audio any.mp3 --fps 25 --backend mel --out f.npy`.
"""

from gtalker.audio.features import BACKENDS, FeatureConfig, extract_features, frames_for_duration
from gtalker.audio.mel import MelConfig
from gtalker.audio.windowing import frame_windows, windows, windows_batch

__all__ = ["BACKENDS", "FeatureConfig", "MelConfig", "extract_features", "frame_windows",
           "frames_for_duration", "windows", "windows_batch"]
