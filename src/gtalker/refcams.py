"""Cameras in the reference face tracker's convention (AD-NeRF / ER-NeRF / GaussianTalker track_params.pt).

The reference tracker keeps per frame `euler` (theta, phi, psi) and `trans`, and projects a world point p
as q = M(euler) p + trans, u = -f q_x / q_z + cx, v = f q_y / q_z + cy with cx = w/2, cy = h/2: its camera
looks down -z with y up. Its rotation is M = Rx(-theta) Ry(phi) Rz(-psi) in the usual right-handed
elementary rotations. Its transforms_*.json use trans / 10 (`TRANSFORMS_SCALE`) and c2w = [M^T | -M^T trans/10].
GaussianTalker builds its 3DGS camera from `euler` and `trans` directly (units of the tracker), and seeds
its Gaussians with the mean of `vertices`.

Ours (CONTRACTS.md): q_cv = R p + t in metres, OpenCV camera (y down, z forward). With F = diag(1, -1, -1)
and tracker units = metres x TRANSFORMS_SCALE (so the tracker's own transforms, trans / 10, are in our
metres): M = F R, trans = 10 F t, vertices = 10 p. The principal points differ by half a pixel (ours
(w-1)/2, the tracker's w/2); the export keeps our R, t exactly (the 3DGS rasteriser the trainers render
with puts the image centre at (w-1)/2 like ours), so the tracker's formula lands 0.5 px right and below.
"""

from __future__ import annotations

import numpy as np

TRANSFORMS_SCALE = 10.0
FLIP_YZ = np.diag([1.0, -1.0, -1.0])


def _rx(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _ry(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rz(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def tracker_rotation(euler: np.ndarray) -> np.ndarray:
    """The tracker's rotation matrices [N,3,3] for euler [N,3] (theta, phi, psi)."""
    e = np.asarray(euler, np.float64).reshape(-1, 3)
    return _rx(-e[:, 0]) @ _ry(e[:, 1]) @ _rz(-e[:, 2])


def tracker_euler(M: np.ndarray) -> np.ndarray:
    """Inverse of `tracker_rotation`: euler [N,3] with tracker_rotation(euler) = M (M = Rx(a) Ry(b) Rz(c)
    gives a = atan2(-M12, M22), b = asin(M02), c = atan2(-M01, M00); theta = -a, phi = b, psi = -c)."""
    M = np.asarray(M, np.float64).reshape(-1, 3, 3)
    a = np.arctan2(-M[:, 1, 2], M[:, 2, 2])
    b = np.arcsin(np.clip(M[:, 0, 2], -1.0, 1.0))
    c = np.arctan2(-M[:, 0, 1], M[:, 0, 0])
    return np.stack([-a, b, -c], axis=1)


def to_tracker(R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our world-to-camera (R [N,3,3], t [N,3] in metres, OpenCV) -> the tracker's (euler [N,3], trans [N,3])."""
    M = FLIP_YZ @ np.asarray(R, np.float64)
    trans = TRANSFORMS_SCALE * np.einsum("ij,nj->ni", FLIP_YZ, np.asarray(t, np.float64))
    return tracker_euler(M), trans


def from_tracker(euler: np.ndarray, trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tracker's (euler, trans) -> our (R, t) (OpenCV, metres = tracker units / TRANSFORMS_SCALE)."""
    R = FLIP_YZ @ tracker_rotation(euler)
    t = np.einsum("ij,nj->ni", FLIP_YZ, np.asarray(trans, np.float64).reshape(-1, 3)) / TRANSFORMS_SCALE
    return R, t


def tracker_project(points: np.ndarray, euler: np.ndarray, trans: np.ndarray, focal: float,
                    w: int, h: int) -> np.ndarray:
    """Pixels [N,P,2] of world points [P,3] (tracker units) by the tracker's projection (cx = w/2)."""
    q = np.einsum("nij,pj->npi", tracker_rotation(euler), np.asarray(points, np.float64)) + \
        np.asarray(trans, np.float64)[:, None, :]
    u = -focal * q[..., 0] / q[..., 2] + w / 2.0
    v = focal * q[..., 1] / q[..., 2] + h / 2.0
    return np.stack([u, v], axis=-1)
