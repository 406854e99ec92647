"""Cost figures read from the render and training outputs (render_stats.json, train_log.json)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from gtalker.common import read_json


def _first(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = data.get(key)
        if isinstance(value, (int, float)) and not (isinstance(value, float) and not math.isfinite(value)):
            return value
    return None


def render_figures(path: str | os.PathLike) -> dict[str, Any]:
    """Render FPS (device-synchronised, I/O excluded, as the render step measures it), Gaussian count."""
    data = read_json(path)
    return {
        "render_fps": _first(data, ("fps", "render_fps")),
        "render_ms_per_frame": _first(data, ("ms_per_frame_mean", "ms_per_frame")),
        "render_device": data.get("device_name") or data.get("device"),
        "render_size": _first(data, ("size",)),
        "n_gaussians": _first(data, ("n_gaussians", "gaussians")),
    }


def train_figures(talker_log: str | os.PathLike, canonical_log: str | os.PathLike | None = None) -> dict[str, Any]:
    """Training time (talker stage, plus the canonical stage when its log is given), peak memory."""
    data = read_json(talker_log)
    out = {
        "train_seconds_talker": _first(data, ("train_seconds", "train_time_s", "elapsed", "seconds", "time")),
        "peak_memory_mb": _first(data, ("peak_rss_mb", "peak_memory_mb")),
        "peak_gpu_memory_mb": _first(data, ("peak_gpu_mb", "peak_gpu_memory_mb")),
        "skipped_steps": _first(data, ("skipped_steps",)),
        "train_device": data.get("device"),
        "train_seconds_canonical": None,
    }
    if canonical_log is not None and Path(canonical_log).is_file():
        canon = read_json(canonical_log)
        out["train_seconds_canonical"] = _first(canon, ("train_seconds", "train_time_s", "elapsed", "seconds", "time"))
        peak = _first(canon, ("peak_rss_mb", "peak_memory_mb"))
        if peak is not None and (out["peak_memory_mb"] is None or peak > out["peak_memory_mb"]):
            out["peak_memory_mb"] = peak
    parts = [v for v in (out["train_seconds_talker"], out["train_seconds_canonical"]) if v is not None]
    out["train_seconds"] = float(sum(parts)) if parts else None
    return out
