"""Rotations: axis-angle (torch, differentiable), Euler angles, interpolation over time.

Camera convention (OpenCV): x right, y down, z forward. The head frame (world) has y up and z out of
the face, so a head seen from the front has R = FLIP = diag(1, -1, -1). A pose is
R = FLIP @ R_head with R_head = Rz(roll) @ Ry(yaw) @ Rx(pitch) a rotation of the head in its own frame;
`euler` = (pitch, yaw, roll) in radians. Positive roll turns the head counter-clockwise on screen.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation, Slerp

FLIP = np.diag([1.0, -1.0, -1.0])


def axis_angle_to_matrix(rvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula for [...,3] axis-angle vectors -> [...,3,3], smooth at zero."""
    theta2 = (rvec * rvec).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-12))
    x, y, z = rvec.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(rvec.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=rvec.dtype, device=rvec.device).expand_as(K)
    return eye + a[..., None] * K + b[..., None] * (K @ K)


def head_to_camera(rvec: torch.Tensor) -> torch.Tensor:
    """World->camera rotation R = FLIP @ exp(rvec) for head-frame axis-angle vectors."""
    flip = torch.tensor(FLIP, dtype=rvec.dtype, device=rvec.device)
    return flip @ axis_angle_to_matrix(rvec)


def euler_from_R(R: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) [N,3] radians of world->camera rotations [N,3,3] (see module docstring)."""
    R_head = FLIP @ np.asarray(R, np.float64)
    # R_head = Rz(roll) Ry(yaw) Rx(pitch) is the extrinsic x-y-z sequence.
    return Rotation.from_matrix(R_head).as_euler("xyz")


def R_from_euler(euler: np.ndarray) -> np.ndarray:
    """World->camera rotations [N,3,3] from (pitch, yaw, roll) [N,3] radians."""
    return FLIP @ Rotation.from_euler("xyz", np.asarray(euler, np.float64)).as_matrix()


def R_from_rvec(rvec: np.ndarray) -> np.ndarray:
    """World->camera rotations [N,3,3] from head-frame axis-angle vectors [N,3]."""
    return FLIP @ Rotation.from_rotvec(np.asarray(rvec, np.float64)).as_matrix()


def rvec_from_R(R: np.ndarray) -> np.ndarray:
    """Head-frame axis-angle [N,3] of world->camera rotations [N,3,3]."""
    return Rotation.from_matrix(FLIP @ np.asarray(R, np.float64)).as_rotvec()


def fill_gaps(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Linearly interpolate rows of `values` [N,...] where `known` is False from the known rows
    (held constant beyond the first/last known row)."""
    out = np.array(values, dtype=np.float64, copy=True)
    idx = np.flatnonzero(known)
    if len(idx) == 0 or len(idx) == len(known):
        return out
    missing = np.flatnonzero(~known)
    flat = out.reshape(len(out), -1)
    for c in range(flat.shape[1]):
        flat[missing, c] = np.interp(missing, idx, flat[idx, c])
    return flat.reshape(out.shape)


def fill_rotation_gaps(R: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Slerp rotations [N,3,3] over frames where `known` is False (constant beyond the ends)."""
    out = np.array(R, dtype=np.float64, copy=True)
    idx = np.flatnonzero(known)
    if len(idx) == 0 or len(idx) == len(known):
        return out
    missing = np.flatnonzero(~known)
    if len(idx) == 1:
        out[missing] = out[idx[0]]
        return out
    slerp = Slerp(idx.astype(np.float64), Rotation.from_matrix(out[idx]))
    out[missing] = slerp(np.clip(missing, idx[0], idx[-1]).astype(np.float64)).as_matrix()
    return out
