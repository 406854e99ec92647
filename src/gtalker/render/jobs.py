"""The three render jobs: validation passage, new speech (any length) and attention maps.

Each writes its outputs atomically: frames and videos appear only when the whole job succeeds.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gtalker.common import SAMPLE_RATE, InputError, atomic_path, read_json, write_json
from gtalker.io.audio import load_audio, write_wav
from gtalker.io.frames import frame_path, write_image
from gtalker.io.video import VideoWriter
from gtalker.render.attention import attention_frames
from gtalker.render.core import Timer, render_sequence
from gtalker.render.looping import looped_indices
from gtalker.talker.model import TalkingHead, load

log = logging.getLogger("gtalker.render")


def load_model(path: str, device: torch.device) -> TalkingHead:
    model = load(path, map_location=device)
    model.eval()
    return model


def raster_size(spec: int | str | None, model: TalkingHead, size: int) -> int | None:
    """The head's rasterisation size: an int, 'train' (the model's training size) or 'full'/None
    (the output size); None when it is not below the output size."""
    if spec is None or spec == "full":
        return None
    if spec == "train":
        inner = model.train_size
    else:
        try:
            inner = int(spec)
        except ValueError:
            raise InputError(f"render.raster_size: '{spec}' is not a size, 'train' or 'full'") from None
    return inner if inner and inner < size else None


def val_indices(split_path: str) -> list[int]:
    """The validation frame indices; InputError when there are none."""
    split = read_json(split_path)
    val = [int(i) for i in split.get("val", [])]
    if not val:
        raise InputError(f"{split_path}: the 'val' list is empty; use a longer video or a smaller "
                         "split.train_fraction")
    return val


def load_features(path: str) -> np.ndarray:
    """Audio features [N,16,C] (memory-mapped)."""
    if not Path(path).exists():
        raise InputError(f"{path}: audio features not found; run the audio features rule")
    feats = np.load(path, mmap_mode="r")
    if feats.ndim != 3:
        raise InputError(f"{path}: audio features must be [N,16,C], got shape {feats.shape}")
    return feats


def check_channels(model: TalkingHead, feats: np.ndarray, path: str) -> None:
    """The features must have the channel count the model was trained with."""
    want = model.cfg.audio_channels
    if "audio" in model.cfg.tokens and feats.shape[2] != want:
        raise InputError(f"{path}: audio features have {feats.shape[2]} channels but the model was trained "
                         f"with {want}; compute them with the same audio_features.backend")


def passage_audio(wav: str, indices: list[int], fps: float, out: str | os.PathLike) -> None:
    """Write the audio of the frames indices[0]..indices[-1] (a contiguous passage) as a wav."""
    samples = load_audio(wav)
    start = int(round(indices[0] * SAMPLE_RATE / fps))
    end = int(round((indices[-1] + 1) * SAMPLE_RATE / fps))
    write_wav(out, samples[start:end])


def even(n: int) -> int:
    return n + (n % 2)


def render_val(model_path: str, dataset_dir: str, split_path: str, features_path: str, audio_wav: str,
               out_video: str, out_frames: str, out_stats: str, size: int, fps: float,
               device: torch.device, batch: int = 1, backend: str = "auto", warmup: int = 2,
               train_filter: bool = True, inner_size: int | str | None = "train") -> dict[str, Any]:
    """Render the validation passage: PNG frames (named by frame index), mp4 with its audio, timing."""
    model = load_model(model_path, device)
    indices = val_indices(split_path)
    feats = load_features(features_path)
    check_channels(model, feats, features_path)
    inner_size = raster_size(inner_size, model, size)
    timer = Timer(device)
    with tempfile.TemporaryDirectory() as tmpdir, atomic_path(out_frames, is_dir=True) as frames_dir:
        wav = Path(tmpdir) / "val.wav"
        passage_audio(audio_wav, indices, fps, wav)
        frames = render_sequence(model, dataset_dir, indices, feats, indices, size, device, timer,
                                 batch=batch, backend=backend, train_filter=train_filter,
                                 inner_size=inner_size)
        with VideoWriter(out_video, even(size), even(size), fps=fps, audio=wav) as writer:
            for idx, img in tqdm(zip(indices, frames), total=len(indices), desc="render val",
                                 file=sys.stderr, mininterval=5):
                write_image(frame_path(frames_dir, idx, ".png"), img)
                writer.write(pad_even(img))
    stats = {
        **timer.stats(skip=warmup), "n_frames": len(indices), "size": size, "batch": batch,
        "n_gaussians": model.n_gaussians, "device": str(device), "backend": backend,
        "train_size": model.train_size, "train_filter": bool(train_filter and model.train_size
                                                              and size > model.train_size),
        "raster_size": inner_size or size,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(), "torch_threads": torch.get_num_threads(),
        "timing": "model deformation + rasterisation per batch, device-synchronised; decoding and "
                  "writing excluded; the first warm-up batches are ignored",
    }
    write_json(out_stats, stats)
    log.info("validation: %d frames, %.1f FPS (%s)", len(indices), stats["fps"], device)
    return stats


def pad_even(img: np.ndarray) -> np.ndarray:
    """Pad an image by one pixel where a side is odd (H.264 yuv420p needs even sizes)."""
    h, w = img.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return img
    return np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def render_custom(model_path: str, dataset_dir: str, split_path: str, features_path: str, audio_path: str,
                  out_video: str, size: int, fps: float, device: torch.device, batch: int = 1,
                  backend: str = "auto", pose_source: str = "val", train_filter: bool = True,
                  inner_size: int | str | None = "train", train_features: str | None = None) -> int:
    """Render new speech of any length; poses, blinks and torso images loop back and forth. With
    `train_features` (the training audio's), the new features first take their statistics
    (gtalker.audio.adapt).

    Returns the number of frames.
    """
    model = load_model(model_path, device)
    feats = load_features(features_path)
    check_channels(model, feats, features_path)
    if train_features:
        from gtalker.audio.adapt import match_feature_stats

        feats = match_feature_stats(feats, load_features(train_features))
        log.info("features moved to the statistics of %s", train_features)
    split = read_json(split_path)
    passage = [int(i) for i in split.get(pose_source, [])]
    if not passage:
        raise InputError(f"{split_path}: no '{pose_source}' frames to take poses from; "
                         "set render.pose_source to train or val")
    n = int(feats.shape[0])
    if n == 0:
        raise InputError(f"{features_path}: no frames (the audio file is empty?)")
    sources = looped_indices(passage, n)
    inner_size = raster_size(inner_size, model, size)
    timer = Timer(device)
    frames = render_sequence(model, dataset_dir, sources, feats, list(range(n)), size, device, timer,
                             batch=batch, backend=backend, train_filter=train_filter, inner_size=inner_size)
    with tempfile.TemporaryDirectory() as tmpdir:
        wav = Path(tmpdir) / "speech.wav"
        samples = load_audio(audio_path)
        write_wav(wav, samples[: int(round(n * SAMPLE_RATE / fps))])
        with VideoWriter(out_video, even(size), even(size), fps=fps, audio=wav) as writer:
            for img in tqdm(frames, total=n, desc="render custom", file=sys.stderr, mininterval=5):
                writer.write(pad_even(img))
    log.info("custom audio %s: %d frames (%.1f s) with poses looped over %d %s frames, %.1f FPS",
             audio_path, n, n / fps, len(passage), pose_source, timer.stats()["fps"])
    return n


def render_attention(model_path: str, dataset_dir: str, split_path: str, features_path: str,
                     audio_wav: str, out_video: str, size: int, fps: float, device: torch.device,
                     max_frames: int = 0, backend: str = "auto", train_filter: bool = True,
                     inner_size: int | str | None = "train") -> int:
    """Video of the attention maps per condition token over the validation passage (with its audio)."""
    model = load_model(model_path, device)
    indices = val_indices(split_path)
    if max_frames > 0:
        indices = indices[:max_frames]
    feats = load_features(features_path)
    check_channels(model, feats, features_path)
    width = size * (1 + len(model.cfg.tokens))
    inner_size = raster_size(inner_size, model, size)
    with tempfile.TemporaryDirectory() as tmpdir:
        wav = Path(tmpdir) / "val.wav"
        passage_audio(audio_wav, indices, fps, wav)
        rows = attention_frames(model, dataset_dir, indices, feats, size, device, backend, train_filter,
                                inner_size)
        with VideoWriter(out_video, even(width), even(size), fps=fps, audio=wav) as writer:
            for row in tqdm(rows, total=len(indices), desc="attention", file=sys.stderr, mininterval=5):
                writer.write(pad_even(row))
    return len(indices)
