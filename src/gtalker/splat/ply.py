"""PLY files: Gaussians in the original 3DGS attribute layout, and plain point clouds.

3DGS layout (binary little endian, all float32): x y z nx ny nz f_dc_0..2 f_rest_0..44 opacity
scale_0..2 rot_0..3, with f_rest channel-major (f_rest_{c*15+k} = coefficient k+1 of channel c),
opacity as a logit, scales as logs and rotations as (w, x, y, z) quaternions, so that existing
Gaussian-splat viewers open our files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gtalker.common import InputError, atomic_path

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_NP_TO_PLY = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
              "f4": "float", "f8": "double"}
N_REST = 15


def read_vertices(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The 'vertex' element of a PLY file (ascii or binary) as name -> array."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: PLY file not found; rerun the rule that makes it")
    with open(p, "rb") as fh:
        if fh.readline().strip() != b"ply":
            raise InputError(f"{p}: not a PLY file (no 'ply' magic line)")
        fmt, elements, current = None, [], None
        while True:
            line = fh.readline()
            if not line:
                raise InputError(f"{p}: truncated PLY header (no end_header)")
            words = line.decode("ascii", errors="replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                current = {"name": words[1], "count": int(words[2]), "props": []}
                elements.append(current)
            elif words[0] == "property":
                if current is None:
                    raise InputError(f"{p}: PLY property before any element")
                if words[1] == "list":
                    current["props"].append((words[-1], None))
                else:
                    if words[1] not in _PLY_TYPES:
                        raise InputError(f"{p}: unknown PLY property type '{words[1]}'")
                    current["props"].append((words[2], _PLY_TYPES[words[1]]))
        if not elements or elements[0]["name"] != "vertex":
            raise InputError(f"{p}: PLY file has no leading 'vertex' element")
        vert = elements[0]
        if any(t is None for _, t in vert["props"]):
            raise InputError(f"{p}: list properties on vertices are not supported")
        if fmt == "ascii":
            rows = [fh.readline().split() for _ in range(vert["count"])]
            data = np.array(rows, dtype=np.float64).reshape(vert["count"], len(vert["props"]))
            return {name: data[:, i].astype(t) for i, (name, t) in enumerate(vert["props"])}
        if fmt not in ("binary_little_endian", "binary_big_endian"):
            raise InputError(f"{p}: unsupported PLY format '{fmt}'")
        endian = "<" if fmt == "binary_little_endian" else ">"
        dtype = np.dtype([(name, endian + t) for name, t in vert["props"]])
        raw = fh.read(dtype.itemsize * vert["count"])
        if len(raw) < dtype.itemsize * vert["count"]:
            raise InputError(f"{p}: PLY file is truncated ({len(raw)} of {dtype.itemsize * vert['count']} bytes)")
        arr = np.frombuffer(raw, dtype=dtype)
        return {name: arr[name].astype(arr.dtype[name].newbyteorder("=")) for name in arr.dtype.names}


def write_vertices(path: str | os.PathLike, columns: dict[str, np.ndarray]) -> None:
    """Write name -> [N] arrays as the vertex element of a binary little-endian PLY, atomically."""
    names = list(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    dtype = np.dtype([(k, "<" + np.asarray(columns[k]).dtype.str[1:]) for k in names])
    arr = np.empty(n, dtype=dtype)
    for k in names:
        arr[k] = columns[k]
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property {_NP_TO_PLY[dtype[k].str[1:]]} {k}" for k in names]
    header.append("end_header")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(("\n".join(header) + "\n").encode("ascii"))
            fh.write(arr.tobytes())


def read_points(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Point cloud xyz [N,3] float32 and colours [N,3] in [0,1] (None when the file has none)."""
    v = read_vertices(path)
    for k in ("x", "y", "z"):
        if k not in v:
            raise InputError(f"{path}: PLY vertices have no '{k}' property")
    xyz = np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float32)
    if len(xyz) == 0:
        raise InputError(f"{path}: PLY file has no points")
    if not np.isfinite(xyz).all():
        raise InputError(f"{path}: PLY file has non-finite coordinates")
    rgb = None
    if all(k in v for k in ("red", "green", "blue")):
        cols = np.stack([v["red"], v["green"], v["blue"]], axis=1).astype(np.float32)
        scale = 255.0 if np.issubdtype(v["red"].dtype, np.integer) else 1.0
        rgb = np.clip(cols / scale, 0.0, 1.0)
    return xyz, rgb


def write_points(path: str | os.PathLike, xyz: np.ndarray, rgb: np.ndarray | None = None) -> None:
    """Write a point cloud (x, y, z float32 + red, green, blue uchar when colours in [0,1] are given)."""
    cols = {"x": xyz[:, 0].astype(np.float32), "y": xyz[:, 1].astype(np.float32),
            "z": xyz[:, 2].astype(np.float32)}
    if rgb is not None:
        u8 = np.clip(np.round(np.asarray(rgb) * 255.0), 0, 255).astype(np.uint8)
        cols.update(red=u8[:, 0], green=u8[:, 1], blue=u8[:, 2])
    write_vertices(path, cols)


def write_gaussians(path: str | os.PathLike, means: np.ndarray, log_scales: np.ndarray, quats: np.ndarray,
                    opacity_logits: np.ndarray, sh_dc: np.ndarray, sh_rest: np.ndarray) -> None:
    """Write Gaussians in the 3DGS layout. sh_dc [N,1,3], sh_rest [N,15,3] (fewer are zero-padded)."""
    n = means.shape[0]
    rest = np.zeros((n, N_REST, 3), dtype=np.float32)
    rest[:, :sh_rest.shape[1]] = sh_rest
    cols: dict[str, np.ndarray] = {}
    for i, k in enumerate("xyz"):
        cols[k] = means[:, i]
    for k in ("nx", "ny", "nz"):
        cols[k] = np.zeros(n, dtype=np.float32)
    for c in range(3):
        cols[f"f_dc_{c}"] = sh_dc[:, 0, c]
    rest_cm = rest.transpose(0, 2, 1).reshape(n, 3 * N_REST)  # channel-major as 3DGS
    for i in range(3 * N_REST):
        cols[f"f_rest_{i}"] = rest_cm[:, i]
    cols["opacity"] = opacity_logits
    for i in range(3):
        cols[f"scale_{i}"] = log_scales[:, i]
    for i in range(4):
        cols[f"rot_{i}"] = quats[:, i]
    write_vertices(path, {k: np.asarray(v, dtype=np.float32) for k, v in cols.items()})


def read_gaussians(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a 3DGS PLY: means, log_scales, quats, opacity_logits, sh_dc [N,1,3], sh_rest [N,15,3]."""
    v = read_vertices(path)
    need = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
            "rot_0", "rot_1", "rot_2", "rot_3"]
    missing = [k for k in need if k not in v]
    if missing:
        raise InputError(f"{path}: not a 3DGS Gaussian PLY (missing {', '.join(missing)})")
    n = len(v["x"])
    n_rest = len([k for k in v if k.startswith("f_rest_")])
    if n_rest % 3:
        raise InputError(f"{path}: {n_rest} f_rest properties is not a multiple of 3")
    per = n_rest // 3
    rest_cm = np.stack([v[f"f_rest_{i}"] for i in range(n_rest)], axis=1) if n_rest else np.zeros((n, 0))
    rest = np.zeros((n, N_REST, 3), dtype=np.float32)
    rest[:, :per] = rest_cm.reshape(n, 3, per).transpose(0, 2, 1)
    f32 = np.float32
    return {
        "means": np.stack([v["x"], v["y"], v["z"]], axis=1).astype(f32),
        "log_scales": np.stack([v[f"scale_{i}"] for i in range(3)], axis=1).astype(f32),
        "quats": np.stack([v[f"rot_{i}"] for i in range(4)], axis=1).astype(f32),
        "opacity_logits": v["opacity"].astype(f32),
        "sh_dc": np.stack([v[f"f_dc_{c}"] for c in range(3)], axis=1)[:, None, :].astype(f32),
        "sh_rest": rest,
    }
