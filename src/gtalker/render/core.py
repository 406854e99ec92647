"""Rendering a trained TalkingHead frame by frame, with device-synchronised timing that excludes I/O.

A render job is a list of source frames (poses, blinks, torso backgrounds come from there) and, per
output frame, the index of its audio window in a feature array. The validation passage uses its own
frames and audio; new speech loops the passage's frames back and forth (gtalker.render.looping).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch

from gtalker.data import FrameDataset
from gtalker.talker.model import Conditions, TalkingHead
from gtalker.audio.windowing import windows

RENDER_FIELDS = ("background", "K", "viewmat", "blink")


@dataclass
class Timer:
    """Accumulates device-synchronised seconds of model work only (no decoding, no writing)."""

    device: torch.device
    seconds: float = 0.0
    frames: int = 0
    per_batch: list[float] = field(default_factory=list)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def add(self, seconds: float, frames: int) -> None:
        self.seconds += seconds
        self.frames += frames
        self.per_batch.append(seconds / max(frames, 1))

    def stats(self, skip: int = 0) -> dict[str, float]:
        """FPS and per-frame milliseconds, ignoring the first `skip` batches (warm-up) when possible."""
        times = self.per_batch[skip:] if len(self.per_batch) > skip else self.per_batch
        mean = float(np.mean(times)) if times else float("nan")
        return {"fps": 1.0 / mean if times and mean > 0 else float("nan"),
                "ms_per_frame_mean": 1000.0 * mean,
                "ms_per_frame_median": 1000.0 * float(np.median(times)) if times else float("nan"),
                "timed_frames": self.frames, "timed_seconds": self.seconds}


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """[H,W,3] float in [0,1] -> uint8 RGB."""
    return (image.detach().clamp(0, 1).mul(255).add(0.5).to(torch.uint8).cpu().numpy())


def iter_batches(n: int, batch: int) -> Iterator[range]:
    for start in range(0, n, batch):
        yield range(start, min(n, start + batch))


def render_sequence(model: TalkingHead, dataset_dir: str, source_indices: Sequence[int],
                    features: np.ndarray, audio_index: Sequence[int], size: int, device: torch.device,
                    timer: Timer, batch: int = 1, backend: str = "auto",
                    audio_override: np.ndarray | None = None, train_filter: bool = True,
                    inner_size: int | None = None) -> Iterator[np.ndarray]:
    """Yield uint8 frames: output k uses source frame source_indices[k] and audio window audio_index[k].

    `audio_override` [8,16,C] replaces every frame's audio windows (e.g. silence, for tests of lip sync).
    `train_filter`: above the training resolution, keep the Gaussians' training footprint
    (gtalker.talker.model.training_filter). `inner_size`: rasterise the head at that size and upsample
    it onto the full-size background (TalkingHead.render_upsampled).
    """
    filter_size = model.train_size if train_filter else None
    if len(source_indices) != len(audio_index):
        raise ValueError("source_indices and audio_index must have the same length")
    data = FrameDataset(dataset_dir, list(source_indices), size, fields=RENDER_FIELDS)
    model.eval()
    for chunk in iter_batches(len(source_indices), batch):
        items = [data[k] for k in chunk]
        if audio_override is not None:
            audio = np.stack([audio_override] * len(items))
        else:
            audio = np.stack([windows(features, int(audio_index[k])) for k in chunk])
        cond = Conditions(torch.as_tensor(audio), torch.as_tensor([float(it["blink"]) for it in items]),
                          torch.stack([torch.as_tensor(it["viewmat"]) for it in items])).to(device)
        K = torch.stack([torch.as_tensor(it["K"]) for it in items]).float().to(device)
        bg = torch.stack([torch.as_tensor(it["background"]) for it in items]).float().to(device)
        with torch.no_grad():
            timer.sync()
            start = time.perf_counter()
            images, _ = model.render_batch(cond, K, size, size, bg, backend, filter_size=filter_size,
                                           inner_size=inner_size)
            timer.sync()
            timer.add(time.perf_counter() - start, len(items))
        for img in images:
            yield to_uint8(img)
