"""Training data for the Gaussian stages: one frame's target, background, mask, camera and conditions.

FrameDataset streams images from the frame stores on disk (CONTRACTS.md: face/gt, face/torso_bg,
face/parsing, fit/track.npz, face/lips.npy, face/blinks.npy, audio features), resizes them to a square
training resolution and keeps a bounded LRU cache of decoded frames (uint8), so that memory is flat in
video length. Intrinsics are rescaled with gtalker.camera, audio windows cut with gtalker.audio.windowing.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from gtalker.audio.windowing import windows
from gtalker.camera import scale_intrinsics
from gtalker.common import InputError
from gtalker.io.frames import frame_path, read_image

ALL_FIELDS = ("image", "background", "head_mask", "K", "viewmat", "lip_box", "blink", "audio")
CACHE_BYTES = 256 * 2**20
HEAD_LABEL = 1


def resize(img: np.ndarray, size: int) -> np.ndarray:
    """Square resize (area filter when shrinking, bilinear when growing)."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


class FrameDataset(torch.utils.data.Dataset):
    """Frames of one dataset folder (results/<dataset>) at a square training resolution.

    item: {"index": int, "image": [S,S,3] float (face/gt), "background": [S,S,3] (face/torso_bg),
    "head_mask": [S,S] bool (parsing == 1), "K": [3,3] (scaled to S), "viewmat": [4,4] (w2c from
    fit/track.npz), "lip_box": [4] int (scaled), "audio": [8,16,C] (when audio_features is given),
    "blink": float}. `fields` selects what is loaded (files of unused fields are never opened).
    """

    def __init__(self, dataset_dir: str, indices: list[int], size: int, audio_features: str | None = None,
                 fields: tuple[str, ...] = ALL_FIELDS, cache_items: int | None = None) -> None:
        unknown = [f for f in fields if f not in ALL_FIELDS]
        if unknown:
            raise ValueError(f"FrameDataset: unknown fields {unknown}; choose from {ALL_FIELDS}")
        if size < 8:
            raise ValueError(f"FrameDataset: size must be >= 8, got {size}")
        self.root = Path(dataset_dir)
        self.indices = [int(i) for i in indices]
        self.size = int(size)
        self.fields = tuple(fields)
        self.audio_path = audio_features
        self._audio: np.ndarray | None = None
        self._track: dict[str, np.ndarray] | None = None
        self._lips: np.ndarray | None = None
        self._blinks: np.ndarray | None = None
        per_item = self.size * self.size * (3 * 2 + 1)
        self.cache_items = cache_items if cache_items is not None else max(1, CACHE_BYTES // per_item)
        self._cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        if not self.indices:
            raise InputError(f"{self.root}: FrameDataset got no frame indices (is split.json empty?)")
        if any(f in self.fields for f in ("K", "viewmat")):
            n = self.track()["R"].shape[0]
            bad = [i for i in self.indices if not 0 <= i < n]
            if bad:
                raise InputError(f"{self.root / 'fit/track.npz'}: has {n} frames but frames {bad[:5]} were asked for")

    # ----- lazily opened per-video files ------------------------------------------------------------
    def _load_npy(self, rel: str) -> np.ndarray:
        path = self.root / rel
        if not path.exists():
            raise InputError(f"{path}: not found; rerun the rule that makes it")
        return np.load(path, mmap_mode="r")

    def track(self) -> dict[str, np.ndarray]:
        """fit/track.npz as a dict (small: per-frame R, t)."""
        if self._track is None:
            path = self.root / "fit" / "track.npz"
            if not path.exists():
                raise InputError(f"{path}: not found; run the fit stage (rule fit_track) first")
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in ("focal", "cx", "cy", "size", "R", "t") if k not in z]
                if missing:
                    raise InputError(f"{path}: missing keys {missing} (see CONTRACTS.md, Fit)")
                self._track = {k: np.array(z[k]) for k in ("focal", "cx", "cy", "size", "R", "t")}
        return self._track

    def _audio_features(self) -> np.ndarray:
        if self._audio is None:
            path = Path(self.audio_path)  # type: ignore[arg-type]
            if not path.exists():
                raise InputError(f"{path}: audio features not found; run the audio stage first")
            feats = np.load(path, mmap_mode="r")
            if feats.ndim != 3:
                raise InputError(f"{path}: audio features must be [N_frames, 16, C], got shape {feats.shape}")
            self._audio = feats
        return self._audio

    # ----- cached images ----------------------------------------------------------------------------
    def _images(self, index: int) -> dict[str, np.ndarray]:
        hit = self._cache.get(index)
        if hit is not None:
            self._cache.move_to_end(index)
            return hit
        out: dict[str, np.ndarray] = {}
        if "image" in self.fields:
            out["image"] = resize(read_image(frame_path(self.root / "face" / "gt", index, ".jpg")), self.size)
        if "background" in self.fields:
            out["background"] = resize(read_image(frame_path(self.root / "face" / "torso_bg", index, ".jpg")),
                                       self.size)
        if "head_mask" in self.fields:
            parsing = read_image(frame_path(self.root / "face" / "parsing", index, ".png"), cv2.IMREAD_GRAYSCALE)
            head = (parsing == HEAD_LABEL).astype(np.uint8) * 255
            out["head_mask"] = resize(head, self.size) > 127
        self._cache[index] = out
        while len(self._cache) > self.cache_items:
            self._cache.popitem(last=False)
        return out

    def source_size(self) -> int:
        """Pixel size of the processed frames (track.npz 'size', else the size of the first gt frame)."""
        if (self.root / "fit" / "track.npz").exists():
            return int(np.asarray(self.track()["size"]).reshape(-1)[0])
        img = read_image(frame_path(self.root / "face" / "gt", self.indices[0], ".jpg"))
        return int(img.shape[1])

    def camera(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(K [3,3] at the training size, world-to-camera [4,4]) of a frame."""
        tr = self.track()
        src = self.source_size()
        K = np.array([[float(tr["focal"]), 0.0, float(tr["cx"])], [0.0, float(tr["focal"]), float(tr["cy"])],
                      [0.0, 0.0, 1.0]])
        K = scale_intrinsics(K, self.size / src)
        w2c = np.eye(4)
        w2c[:3, :3] = tr["R"][index]
        w2c[:3, 3] = tr["t"][index]
        return K, w2c

    # ----- Dataset protocol -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, Any]:
        index = self.indices[item]
        imgs = self._images(index)
        out: dict[str, Any] = {"index": index}
        for key in ("image", "background"):
            if key in imgs:
                out[key] = torch.from_numpy(imgs[key].astype(np.float32) / 255.0)
        if "head_mask" in imgs:
            out["head_mask"] = torch.from_numpy(imgs["head_mask"].copy())
        if "K" in self.fields or "viewmat" in self.fields:
            K, w2c = self.camera(index)
            if "K" in self.fields:
                out["K"] = torch.from_numpy(K.astype(np.float32))
            if "viewmat" in self.fields:
                out["viewmat"] = torch.from_numpy(w2c.astype(np.float32))
        if "lip_box" in self.fields:
            if self._lips is None:
                self._lips = np.array(self._load_npy("face/lips.npy"))
            box = self._lips[index].astype(np.float64)
            s = self.size / self.source_size()
            out["lip_box"] = torch.from_numpy(np.clip(np.round(box * s), 0, self.size).astype(np.int64))
        if "blink" in self.fields:
            if self._blinks is None:
                self._blinks = np.array(self._load_npy("face/blinks.npy"))
            out["blink"] = float(self._blinks[index])
        if "audio" in self.fields and self.audio_path is not None:
            out["audio"] = torch.from_numpy(windows(self._audio_features(), index))
        return out


def read_split(dataset_dir: str | os.PathLike) -> dict[str, list[int]]:
    """results/<dataset>/split.json as {"train": [...], "val": [...]}."""
    from gtalker.common import read_json

    path = Path(dataset_dir) / "split.json"
    split = read_json(path)
    if not isinstance(split, dict) or "train" not in split or "val" not in split:
        raise InputError(f"{path}: must be {{\"train\": [...], \"val\": [...]}}")
    return {"train": [int(i) for i in split["train"]], "val": [int(i) for i in split["val"]]}


def collate_frames(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch items (tensors stacked, numbers as tensors)."""
    out: dict[str, Any] = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        out[key] = torch.stack(vals) if torch.is_tensor(vals[0]) else torch.tensor(vals)
    return out
