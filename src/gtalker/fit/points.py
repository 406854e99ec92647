"""Initial point clouds for the Gaussians, in world (head-frame) coordinates, written as PLY.

Kinds (`init`):
- mesh: the fitted face model's surface (identity + the mean expression over frames). Models with
  fewer vertices than `n_points` (the builtin one) are densified by area-weighted sampling on their
  triangles; larger meshes (bfm2009) give their vertices.
- random: points uniform in the bounding box of that surface (the head's box).
- landmarks: the 68 fitted landmark points only.
Colours: the median over a few training frames of the pixel each point projects to (frames where a
surface point faces away from the camera are skipped); points seen nowhere get the median colour.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gtalker.common import InputError, atomic_path
from gtalker.fit.facemodel import FaceModel, vertex_normals
from gtalker.fit.tracker import HeadFit
from gtalker.io.frames import read_frame

INITS = ("mesh", "random", "landmarks")


def fitted_vertices(model: FaceModel, track: HeadFit) -> np.ndarray:
    """Model vertices [V,3] with the track's identity and its mean expression over fitted frames
    (the model's own expression modes; the track's per-video residual modes move landmarks only)."""
    used = track.used if track.used.any() else np.ones(track.n_frames, bool)
    expression = track.expression[used, :model.n_expression].mean(axis=0) if model.n_expression else None
    return model.shape(track.identity, expression)


def sample_surface(vertices: np.ndarray, triangles: np.ndarray, n: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points [n,3] and their normals, area-weighted on the triangles (the vertices come first)."""
    used = np.unique(triangles)
    normals = vertex_normals(vertices, triangles)
    pts, nrm = [vertices[used]], [normals[used]]
    extra = n - len(used)
    if extra > 0:
        a, b, c = (vertices[triangles[:, k]] for k in range(3))
        face_n = np.cross(b - a, c - a)
        area = np.linalg.norm(face_n, axis=1)
        tri = rng.choice(len(triangles), extra, p=area / area.sum())
        u, v = rng.random(extra), rng.random(extra)
        flip = u + v > 1
        u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
        pts.append(a[tri] + u[:, None] * (b[tri] - a[tri]) + v[:, None] * (c[tri] - a[tri]))
        nrm.append(face_n[tri] / np.maximum(area[tri], 1e-12)[:, None])
    return np.concatenate(pts), np.concatenate(nrm)


def make_points(model: FaceModel, track: HeadFit, init: str, n_points: int,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """(points [P,3], normals [P,3] or None) of one init kind."""
    if init not in INITS:
        raise InputError(f"init '{init}': choose one of {', '.join(INITS)}")
    rng = np.random.default_rng(seed)
    verts = fitted_vertices(model, track)
    if init == "landmarks":
        return verts[model.lmk_idx], None
    if model.triangles.size:
        surface = verts[np.unique(model.triangles)]
    else:
        surface = verts
    if init == "random":
        lo, hi = surface.min(axis=0), surface.max(axis=0)
        return lo + rng.random((n_points, 3)) * (hi - lo), None
    if model.triangles.size == 0:
        return verts, None
    if len(np.unique(model.triangles)) >= n_points:
        normals = vertex_normals(verts, model.triangles)
        used = np.unique(model.triangles)
        return verts[used], normals[used]
    return sample_surface(verts, model.triangles, n_points, rng)


def colour_points(points: np.ndarray, normals: np.ndarray | None, track: HeadFit, frames_dir: str | os.PathLike,
                  frame_ids: list[int], n_views: int = 8) -> np.ndarray:
    """uint8 colours [P,3]: the median over up to n_views frames of the pixel each point projects to."""
    if not frame_ids:
        raise InputError("no frames to colour the points from (empty training split)")
    views = np.asarray(frame_ids)[np.round(np.linspace(0, len(frame_ids) - 1, min(n_views, len(frame_ids))))
                                 .astype(int)]
    samples = np.full((len(views), len(points), 3), np.nan)
    for v, i in enumerate(views):
        img = read_frame(frames_dir, int(i))
        h, w = img.shape[:2]
        P = points @ track.R[i].T + track.t[i]
        z = P[:, 2]
        uv = track.focal * P[:, :2] / np.maximum(z, 1e-6)[:, None] + [track.cx, track.cy]
        scale = w / track.size
        col, row = np.round(uv[:, 0] * scale).astype(int), np.round(uv[:, 1] * scale).astype(int)
        ok = (z > 0) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        if normals is not None:
            facing = np.einsum("ij,nj->ni", track.R[i], normals)
            ok &= np.einsum("ni,ni->n", facing, -P) > 0
        samples[v, ok] = img[row[ok], col[ok]]
    seen = np.isfinite(samples[..., 0]).any(axis=0)
    colours = np.full((len(points), 3), np.nan)
    colours[seen] = np.nanmedian(samples[:, seen], axis=0)
    fallback = np.median(colours[seen], axis=0) if seen.any() else np.array([128.0, 128.0, 128.0])
    colours[~seen] = fallback
    return np.clip(np.round(colours), 0, 255).astype(np.uint8)


def write_ply(path: str | os.PathLike, points: np.ndarray, colours: np.ndarray) -> None:
    """Binary little-endian PLY with x, y, z (float32) and red, green, blue (uchar), atomically."""
    data = np.empty(len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                        ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    data["x"], data["y"], data["z"] = points[:, 0], points[:, 1], points[:, 2]
    data["red"], data["green"], data["blue"] = colours[:, 0], colours[:, 1], colours[:, 2]
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(points)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header.encode("ascii"))
            fh.write(data.tobytes())


def read_ply(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(points [P,3] float32, colours [P,3] uint8) of a PLY written by `write_ply`."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: point cloud not found; run the rule init_points")
    raw = p.read_bytes()
    end = raw.find(b"end_header\n")
    if not raw.startswith(b"ply\n") or end < 0:
        raise InputError(f"{p}: not a PLY file")
    header = raw[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in header:
        raise InputError(f"{p}: only binary little-endian PLY is read here")
    count = int(next(line.split()[2] for line in header if line.startswith("element vertex")))
    data = np.frombuffer(raw[end + len(b"end_header\n"):], count=count,
                         dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    pts = np.stack([data["x"], data["y"], data["z"]], axis=1)
    cols = np.stack([data["red"], data["green"], data["blue"]], axis=1)
    return pts, cols
