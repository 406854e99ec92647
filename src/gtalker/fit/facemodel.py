"""The common face-model format every tracker input is converted to (builtin, bfm2009, ...).

A face model is a linear shape model over V vertices in the head's own frame:

    vertices = mean + sum_i identity[i] * id_basis[i] + sum_j expression[j] * exp_basis[j]

Frame and units: metres; x = the subject's left (image right in a frontal view), y = up, z = out of the
face (towards a frontal camera). Coefficients are in units of one standard deviation, so the priors are
N(0, 1). `lmk_idx` gives the 68 iBUG 300-W landmark vertices; `triangles` may be empty (points only).

Stored as one .npz (see `save` / `load`): mean [V,3], id_basis [I,V,3], exp_basis [E,V,3] (float32),
lmk_idx [68] int64, triangles [F,3] int32, colors [V,3] uint8 (optional, empty when absent),
id_names [I], exp_names [E] (str), name (str), format_version (int).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gtalker.common import InputError, atomic_path

FORMAT_VERSION = 1
N_LANDMARKS = 68


@dataclass
class FaceModel:
    """A linear 3D face model in the common format (see the module docstring)."""

    name: str
    mean: np.ndarray
    id_basis: np.ndarray
    exp_basis: np.ndarray
    lmk_idx: np.ndarray
    triangles: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int32))
    colors: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.uint8))
    id_names: list[str] = field(default_factory=list)
    exp_names: list[str] = field(default_factory=list)

    @property
    def n_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_identity(self) -> int:
        return int(self.id_basis.shape[0])

    @property
    def n_expression(self) -> int:
        return int(self.exp_basis.shape[0])

    def shape(self, identity: np.ndarray | None = None, expression: np.ndarray | None = None) -> np.ndarray:
        """Vertices [V,3] for one identity and one expression (zeros when omitted)."""
        verts = self.mean.astype(np.float64).copy()
        if identity is not None and len(identity):
            verts += np.tensordot(np.asarray(identity, np.float64), self.id_basis, axes=1)
        if expression is not None and len(expression):
            verts += np.tensordot(np.asarray(expression, np.float64), self.exp_basis, axes=1)
        return verts

    def landmark_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean [68,3], id_basis [I,68,3], exp_basis [E,68,3]) restricted to the landmark vertices."""
        idx = self.lmk_idx
        return self.mean[idx], self.id_basis[:, idx], self.exp_basis[:, idx]


def validate(model: FaceModel, source: str = "face model") -> None:
    """Check shapes, finiteness and index ranges; raise InputError naming what is wrong."""
    V = model.mean.shape[0] if model.mean.ndim == 2 else -1
    if model.mean.ndim != 2 or model.mean.shape[1] != 3 or V < N_LANDMARKS:
        raise InputError(f"{source}: 'mean' must be [V,3] with V >= 68, got {model.mean.shape}")
    for key, basis in (("id_basis", model.id_basis), ("exp_basis", model.exp_basis)):
        if basis.ndim != 3 or basis.shape[1:] != (V, 3):
            raise InputError(f"{source}: '{key}' must be [K,{V},3], got {basis.shape}")
        if not np.isfinite(basis).all():
            raise InputError(f"{source}: '{key}' contains NaN or inf")
    if not np.isfinite(model.mean).all():
        raise InputError(f"{source}: 'mean' contains NaN or inf")
    if model.lmk_idx.shape != (N_LANDMARKS,):
        raise InputError(f"{source}: 'lmk_idx' must hold 68 vertex indices, got shape {model.lmk_idx.shape}")
    if model.lmk_idx.min() < 0 or model.lmk_idx.max() >= V:
        raise InputError(f"{source}: 'lmk_idx' has indices outside 0..{V - 1}")
    if model.triangles.size and (model.triangles.ndim != 2 or model.triangles.shape[1] != 3
                                 or model.triangles.min() < 0 or model.triangles.max() >= V):
        raise InputError(f"{source}: 'triangles' must be [F,3] indices in 0..{V - 1}")
    if model.colors.size and model.colors.shape != (V, 3):
        raise InputError(f"{source}: 'colors' must be [V,3] uint8, got {model.colors.shape}")


def save(model: FaceModel, path: str | os.PathLike) -> None:
    """Write the model as a compressed .npz, atomically."""
    validate(model, str(path))
    arrays = {
        "format_version": np.int32(FORMAT_VERSION),
        "name": np.array(model.name),
        "mean": model.mean.astype(np.float32),
        "id_basis": model.id_basis.astype(np.float32),
        "exp_basis": model.exp_basis.astype(np.float32),
        "lmk_idx": model.lmk_idx.astype(np.int64),
        "triangles": model.triangles.astype(np.int32).reshape(-1, 3),
        "colors": model.colors.astype(np.uint8).reshape(-1, 3),
        "id_names": np.array(model.id_names, dtype=str),
        "exp_names": np.array(model.exp_names, dtype=str),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def load(path: str | os.PathLike) -> FaceModel:
    """Read a model written by `save`, naming the file and the missing key on failure."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: face model file not found; for fit.model: builtin it ships in "
                         "resources/face_models/ (rebuild: python -m gtalker.fit builtin --out {p}); "
                         "for bfm2009 run the rule convert_bfm")
    try:
        data = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"{p}: not a readable face model .npz ({err})") from err
    with data:
        missing = [k for k in ("mean", "id_basis", "exp_basis", "lmk_idx") if k not in data]
        if missing:
            raise InputError(f"{p}: face model lacks key(s) {missing}")
        version = int(data["format_version"]) if "format_version" in data else FORMAT_VERSION
        if version != FORMAT_VERSION:
            raise InputError(f"{p}: face model format {version}, this code reads {FORMAT_VERSION}; rebuild it")
        model = FaceModel(
            name=str(data["name"]) if "name" in data else p.stem,
            mean=data["mean"].astype(np.float64),
            id_basis=data["id_basis"].astype(np.float64),
            exp_basis=data["exp_basis"].astype(np.float64),
            lmk_idx=data["lmk_idx"].astype(np.int64),
            triangles=data["triangles"].astype(np.int64) if "triangles" in data else np.zeros((0, 3), np.int64),
            colors=data["colors"].astype(np.uint8) if "colors" in data else np.zeros((0, 3), np.uint8),
            id_names=[str(s) for s in data["id_names"]] if "id_names" in data else [],
            exp_names=[str(s) for s in data["exp_names"]] if "exp_names" in data else [],
        )
    validate(model, str(p))
    return model


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit area-weighted vertex normals [V,3] (zero for vertices in no triangle)."""
    normals = np.zeros_like(vertices, dtype=np.float64)
    if triangles.size == 0:
        return normals
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    face_n = np.cross(b - a, c - a)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
