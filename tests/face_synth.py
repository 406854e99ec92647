"""Small synthetic talking-head clips for the face tests (the demo generator's face, few frames)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gtalker.demo import build_geometry, make_truth, render_frame
from gtalker.io.frames import frame_path, write_image


def make_clip(folder: Path, n: int = 30, size: int = 256, seed: int = 0) -> dict:
    """Write n demo frames (000000.jpg ...) into folder; return the ground truth dict."""
    folder.mkdir(parents=True, exist_ok=True)
    truth, _ = make_truth(n / 25.0 + 0.04, size, seed)
    truth = {k: (v[:n] if isinstance(v, np.ndarray) and v.ndim >= 1 and len(v) >= n and k not in
                 ("head_mask_ref", "landmarks_ref") else v) for k, v in truth.items()}
    geo = build_geometry(size)
    for i in range(n):
        frame, _ = render_frame(geo, float(truth["mouth_open"][i]), float(truth["mouth_width"][i]),
                                float(truth["blink"][i]), truth["affine"][i].astype(np.float64))
        write_image(frame_path(folder, i), frame)
    return truth
