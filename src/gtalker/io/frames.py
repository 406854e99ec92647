"""A frame store: a folder of numbered images (000000.jpg, ...) that steps stream from disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np

from gtalker.common import InputError

FRAME_PATTERN = "{:06d}"
JPEG_QUALITY = 95  # frames written as JPEG (preprocess.jpeg_quality)


def frame_paths(folder: str | os.PathLike, ext: str | None = None) -> list[Path]:
    """Sorted numbered image files in `folder` (optionally only one extension)."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: frame folder not found; rerun the rule that makes it")
    exts = {ext} if ext else {".jpg", ".png"}
    files = sorted(p for p in root.iterdir() if p.suffix in exts and p.stem.isdigit())
    return files


def frame_path(folder: str | os.PathLike, index: int, ext: str = ".jpg") -> Path:
    """Path of frame `index` in a frame store."""
    return Path(folder) / (FRAME_PATTERN.format(index) + ext)


def read_image(path: str | os.PathLike, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Read an image as RGB (or RGBA / single channel, per flags), naming the file on failure."""
    img = cv2.imread(str(path), flags)
    if img is None:
        raise InputError(f"{path}: cannot read image (missing or corrupt); rerun the rule that makes it")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


def write_image(path: str | os.PathLike, img: np.ndarray, jpeg_quality: int = JPEG_QUALITY) -> None:
    """Write an RGB/RGBA/gray uint8 image; format from the extension."""
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if str(path).endswith(".jpg") else []
    if not cv2.imwrite(str(path), img, params):
        raise OSError(f"{path}: could not write image")


def read_frame(folder: str | os.PathLike, index: int, ext: str = ".jpg") -> np.ndarray:
    """Frame `index` of a frame store as an RGB uint8 array."""
    return read_image(frame_path(folder, index, ext))


def iter_frames(folder: str | os.PathLike, indices: Sequence[int] | None = None,
                ext: str = ".jpg") -> Iterator[np.ndarray]:
    """Stream RGB frames from disk one at a time (bounded memory)."""
    if indices is None:
        for p in frame_paths(folder, ext):
            yield read_image(p)
    else:
        for i in indices:
            yield read_frame(folder, i, ext)


def count_frames(folder: str | os.PathLike, ext: str = ".jpg") -> int:
    """Number of frames in a frame store."""
    return len(frame_paths(folder, ext))


def write_frames(folder: str | os.PathLike, frames: Iterable[np.ndarray], ext: str = ".jpg",
                 jpeg_quality: int = JPEG_QUALITY) -> int:
    """Write frames 000000.ext, 000001.ext, ... into an existing folder; return the count."""
    n = 0
    for n, img in enumerate(frames, start=1):
        write_image(frame_path(folder, n - 1, ext), img, jpeg_quality)
    return n
