"""Per-split camera files (transforms_train.json / transforms_val.json) from a track and the split.

Convention (CONTRACTS.md): OpenCV camera (x right, y down, z forward); world = the head's frame;
`transform_matrix` is the 4x4 camera-to-world matrix, the inverse of the world-to-camera [R|t]; the
principal point (cx, cy) is the image centre; img_id and aud_id are the frame index.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gtalker.common import InputError, read_json, write_json
from gtalker.fit.tracker import HeadFit


def world_to_camera(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 world-to-camera matrices [N,4,4] from R [N,3,3] and t [N,3]."""
    M = np.tile(np.eye(4), (len(R), 1, 1))
    M[:, :3, :3] = R
    M[:, :3, 3] = t
    return M


def camera_to_world(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 camera-to-world matrices [N,4,4]: [R^T | -R^T t] (exact inverse of a rigid transform)."""
    Rt = np.transpose(R, (0, 2, 1))
    M = np.tile(np.eye(4), (len(R), 1, 1))
    M[:, :3, :3] = Rt
    M[:, :3, 3] = -np.einsum("nij,nj->ni", Rt, t)
    return M


def transforms(track: HeadFit, frames: list[int]) -> dict[str, Any]:
    """The transforms_*.json content for the given frame indices."""
    c2w = camera_to_world(track.R, track.t)
    return {
        "focal_len": float(track.focal),
        "cx": float(track.cx),
        "cy": float(track.cy),
        "w": int(track.size),
        "h": int(track.size),
        "camera_convention": "opencv",
        "frames": [{"img_id": int(i), "aud_id": int(i), "transform_matrix": c2w[i].tolist()} for i in frames],
    }


def read_split(path: str | os.PathLike, n_frames: int) -> dict[str, list[int]]:
    """Read split.json and check its indices against the track's frame count."""
    split = read_json(path)
    for key in ("train", "val"):
        if key not in split or not isinstance(split[key], list):
            raise InputError(f"{path}: needs a list '{key}' of frame indices")
        bad = [i for i in split[key] if not isinstance(i, int) or i < 0 or i >= n_frames]
        if bad:
            raise InputError(f"{path}: '{key}' has frame indices outside 0..{n_frames - 1} (e.g. {bad[:5]}); "
                             "the split and the track come from different runs: rerun both")
    if not split["train"]:
        raise InputError(f"{path}: 'train' is empty")
    return {"train": list(split["train"]), "val": list(split["val"])}


def write_transforms(track: HeadFit, split: dict[str, list[int]], out_train: str | os.PathLike,
                     out_val: str | os.PathLike) -> None:
    """Write both transforms files."""
    write_json(out_train, transforms(track, split["train"]))
    write_json(out_val, transforms(track, split["val"]))
