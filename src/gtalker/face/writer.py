"""Background image writing: encoding (which releases the GIL in OpenCV) overlaps the next frame's work.

At most `max_pending` images wait in memory, so memory stays flat in video length.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gtalker.io.frames import JPEG_QUALITY

# fast PNG: light zlib level and the 'sub' row filter (OpenCV >= 4.10 lets us pick it; about 2x faster
# than the adaptive filters for a slightly larger file)
PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1] + (
    [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB] if hasattr(cv2, "IMWRITE_PNG_FILTER") else [])


def _write(path: str, img: np.ndarray, params: list[int]) -> None:
    if not cv2.imwrite(path, img, params):
        raise OSError(f"{path}: could not write image")


class ImageWriter:
    """Write images on worker threads: `put(path, image)`; `close()` waits and re-raises errors.

    Images are given in RGB/RGBA/grey; JPEG quality and fast PNG compression are set by extension.
    """

    def __init__(self, workers: int = 2, max_pending: int = 8, jpeg_quality: int = JPEG_QUALITY) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.pending: deque[Future] = deque()
        self.max_pending = max_pending
        self.jpeg_quality = jpeg_quality

    def put(self, path: str | Path, img: np.ndarray, bgr: bool = False) -> None:
        """Queue one image (RGB/RGBA, converted here; or already B,G,R(,A) when `bgr`)."""
        if not bgr and img.ndim == 3 and img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        elif not bgr and img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
        path = str(path)
        params = [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality] if path.endswith(".jpg") else PNG_FAST
        while len(self.pending) >= self.max_pending:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(_write, path, np.ascontiguousarray(img), params))

    def close(self) -> None:
        """Wait for every queued image; raise the first error."""
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(wait=True)

    def __enter__(self) -> "ImageWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
