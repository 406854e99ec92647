"""Synthetic scenes for tests and benchmarks: a textured Gaussian "head" seen by moving cameras.

`write_dataset` writes a tiny dataset folder in the CONTRACTS.md layout (face/gt, face/torso_bg,
face/parsing, face/lips.npy, face/blinks.npy, fit/track.npz, fit/points_<init>.ply, split.json),
rendered from a known Gaussian head with the torch rasteriser, so that the canonical stage can be
trained and checked without the upstream stages.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gtalker.common import write_json
from gtalker.io.frames import frame_path, write_image
from gtalker.splat import ply
from gtalker.splat.knn import mean_knn_distance
from gtalker.splat.rasterize import rasterize

HEAD_RADII = (0.08, 0.11, 0.09)  # metres: half width, half height, half depth
CAMERA_DISTANCE = 0.6


def ellipsoid_points(n: int, generator: torch.Generator, radii=HEAD_RADII) -> Tensor:
    """n points spread over an ellipsoid surface centred at the origin."""
    d = torch.randn(n, 3, generator=generator)
    d = d / d.norm(dim=1, keepdim=True)
    return d * torch.tensor(radii)


def head_colors(points: Tensor) -> Tensor:
    """A face-like texture: skin, dark hair on top/back, two eyes, a mouth, and fine stripes."""
    x, y, z = points[:, 0] / HEAD_RADII[0], points[:, 1] / HEAD_RADII[1], points[:, 2] / HEAD_RADII[2]
    rgb = torch.stack([0.85 + 0.0 * x, 0.62 + 0.0 * x, 0.5 + 0.0 * x], dim=1)
    rgb = rgb + 0.06 * torch.sin(40 * x)[:, None] * torch.tensor([1.0, 0.8, 0.6])  # texture detail
    hair = (y < -0.35) | (z > 0.35)
    rgb[hair] = torch.tensor([0.2, 0.13, 0.08])
    front = z < -0.5
    for ex in (-0.35, 0.35):
        eye = front & ((x - ex) ** 2 + (y + 0.12) ** 2 < 0.02)
        rgb[eye] = torch.tensor([0.1, 0.15, 0.3])
    mouth = front & ((x / 0.35) ** 2 + ((y - 0.45) / 0.08) ** 2 < 1)
    rgb[mouth] = torch.tensor([0.7, 0.2, 0.25])
    return rgb.clamp(0, 1)


def head_scene(n: int, seed: int = 0) -> dict[str, Tensor]:
    """Activated Gaussians of a synthetic head (means, quats, scales, opacities, colors)."""
    g = torch.Generator().manual_seed(seed)
    means = ellipsoid_points(n, g)
    scale = mean_knn_distance(means) * 1.2
    scales = scale[:, None] * torch.tensor([1.0, 1.0, 0.3])
    # Flatten every Gaussian along the surface normal.
    normal = means / torch.tensor(HEAD_RADII) ** 2
    normal = normal / normal.norm(dim=1, keepdim=True)
    quats = quat_from_z(normal)
    opacities = torch.full((n,), 0.9)
    return {"means": means, "quats": quats, "scales": scales, "opacities": opacities,
            "colors": head_colors(means)}


def quat_from_z(direction: Tensor) -> Tensor:
    """Quaternions (w,x,y,z) rotating +z onto unit `direction` [N,3]."""
    z = torch.tensor([0.0, 0.0, 1.0]).expand_as(direction)
    axis = torch.cross(z, direction, dim=1)
    w = 1.0 + (z * direction).sum(dim=1, keepdim=True)
    q = torch.cat([w, axis], dim=1)
    flip = w.squeeze(1) < 1e-6
    q[flip] = torch.tensor([0.0, 1.0, 0.0, 0.0])
    return q / q.norm(dim=1, keepdim=True)


def euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation R = Rz(roll) Rx(pitch) Ry(yaw) (radians)."""
    cy, sy, cp, sp, cr, sr = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def head_poses(n_frames: int, seed: int = 0, max_deg: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth head poses: world (head) -> camera R [N,3,3], t [N,3]; the face (head -z) faces the camera."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    k = np.arange(n_frames)
    yaw = np.radians(max_deg) * np.sin(2 * np.pi * k / max(n_frames, 2) + phase[0])
    pitch = np.radians(max_deg * 0.5) * np.sin(4 * np.pi * k / max(n_frames, 2) + phase[1])
    roll = np.radians(max_deg * 0.3) * np.sin(6 * np.pi * k / max(n_frames, 2) + phase[2])
    R = np.stack([euler_to_matrix(a, b, c) for a, b, c in zip(yaw, pitch, roll)])
    t = np.stack([np.array([0.01 * np.sin(0.1 * i), 0.005 * np.cos(0.13 * i), CAMERA_DISTANCE]) for i in k])
    return R.astype(np.float32), t.astype(np.float32)


def background_image(size: int, seed: int = 0) -> np.ndarray:
    """A static textured background, uint8 [S,S,3]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([0.3 + 0.4 * xx, 0.4 + 0.2 * yy, 0.6 - 0.3 * xx], axis=-1)
    noise = rng.normal(0, 0.02, size=(size, size, 3))
    return (np.clip(base + noise, 0, 1) * 255).astype(np.uint8)


def write_dataset(root: str | os.PathLike, n_frames: int = 12, size: int = 64, n_gaussians: int = 3000,
                  n_points: int = 2000, seed: int = 0, init: str = "builtin", val_every: int = 6) -> dict:
    """Render a synthetic head into a CONTRACTS.md dataset folder; returns its camera/scene facts."""
    root = Path(root)
    for sub in ("face/gt", "face/torso_bg", "face/parsing", "fit"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    scene = head_scene(n_gaussians, seed)
    R, t = head_poses(n_frames, seed)
    focal = 1.6 * size
    cx = cy = (size - 1) / 2.0
    K = torch.tensor([[focal, 0, cx], [0, focal, cy], [0, 0, 1]], dtype=torch.float32)
    bg = background_image(size, seed)
    bg_t = torch.from_numpy(bg.astype(np.float32) / 255.0)
    lips = np.zeros((n_frames, 4), dtype=np.int32)
    for i in range(n_frames):
        w2c = torch.eye(4)
        w2c[:3, :3] = torch.from_numpy(R[i])
        w2c[:3, 3] = torch.from_numpy(t[i])
        with torch.no_grad():
            out = rasterize(scene["means"], scene["quats"], scene["scales"], scene["opacities"], scene["colors"],
                            K, w2c, size, size, background=bg_t, backend="torch")
        img = (out.color.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
        write_image(frame_path(root / "face/gt", i, ".jpg"), img)
        write_image(frame_path(root / "face/torso_bg", i, ".jpg"), bg)
        write_image(frame_path(root / "face/parsing", i, ".png"), (out.alpha[..., 0].numpy() > 0.5).astype(np.uint8))
        lips[i] = [size * 0.4, size * 0.55, size * 0.6, size * 0.75]
    np.save(root / "face/lips.npy", lips)
    np.save(root / "face/blinks.npy", np.zeros(n_frames, dtype=np.float32))
    np.savez(root / "fit/track.npz", focal=np.float32(focal), cx=np.float32(cx), cy=np.float32(cy),
             size=np.int32(size), R=R, t=t, euler=np.zeros((n_frames, 3), np.float32),
             expression=np.zeros((n_frames, 1), np.float32), identity=np.zeros(1, np.float32),
             reproj_err=np.zeros(n_frames, np.float32), model=np.array("synthetic"))
    g = torch.Generator().manual_seed(seed + 1)
    pts = ellipsoid_points(n_points, g) * 1.02
    ply.write_points(root / f"fit/points_{init}.ply", pts.numpy(), None)
    val = [i for i in range(n_frames) if val_every and i % val_every == val_every - 1]
    train = [i for i in range(n_frames) if i not in val]
    write_json(root / "split.json", {"train": train, "val": val})
    return {"K": K, "R": R, "t": t, "size": size, "scene": scene}
