"""Audio in and out: any format ffmpeg reads -> 16 kHz mono float32; wav writing."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from gtalker.common import SAMPLE_RATE, InputError, atomic_path


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (from the imageio-ffmpeg wheel, or $GTALKER_FFMPEG)."""
    env = os.environ.get("GTALKER_FFMPEG")
    if env:
        return env
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE,
               start: float | None = None, end: float | None = None) -> np.ndarray:
    """Decode any audio (or the audio track of a video) to mono float32 at `sample_rate`.

    Raises InputError naming the file when it is missing or has no audio stream.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: audio file not found")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error"]
    if start is not None:
        cmd += ["-ss", f"{start:.6f}"]
    if end is not None:
        cmd += ["-to", f"{end:.6f}"]
    cmd += ["-i", str(p), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(sample_rate),
            "-f", "f32le", "-acodec", "pcm_f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = msg[-1] if msg else "ffmpeg failed"
        if "matches no streams" in proc.stderr.decode(errors="replace"):
            raise InputError(f"{p}: has no audio stream; give the dataset an 'audio' file in config.yaml")
        raise InputError(f"{p}: cannot decode audio ({detail})")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono float samples as 16-bit PCM wav, atomically."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    buffer = io.BytesIO()  # encoded in memory: a full disk then fails as an OSError naming the file
    sf.write(buffer, clipped, sample_rate, subtype="PCM_16", format="WAV")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a wav as mono float32 and its sample rate."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: wav file not found")
    data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    return data.mean(axis=1), sr


def fit_length(samples: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad samples to exactly n."""
    if len(samples) >= n:
        return samples[:n]
    return np.pad(samples, (0, n - len(samples)))
