"""Synthetic landmark videos with known head motion, made by projecting a face model.

Used by the tests and benchmarks/tracking.py to measure tracking accuracy against exact ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gtalker.fit.facemodel import FaceModel
from gtalker.fit.rotation import R_from_euler


@dataclass
class SyntheticVideo:
    """Landmarks and the truth that made them."""

    lms: np.ndarray         # [N,68,2] pixels (with noise)
    clean: np.ndarray       # [N,68,2] pixels without noise
    valid: np.ndarray       # [N] bool
    euler: np.ndarray       # [N,3] radians (pitch, yaw, roll)
    R: np.ndarray           # [N,3,3] world->camera
    t: np.ndarray           # [N,3] metres
    identity: np.ndarray    # [I]
    expression: np.ndarray  # [N,E]
    focal: float
    size: int


def project(points: np.ndarray, R: np.ndarray, t: np.ndarray, focal: float, size: int) -> np.ndarray:
    """Pixels [N,K,2] of world points [N,K,3] (or [K,3]) for poses R [N,3,3], t [N,3]."""
    c = (size - 1) / 2.0
    P = np.einsum("nij,nkj->nki", R, np.broadcast_to(points, (len(R),) + points.shape[-2:])) + t[:, None]
    return focal * P[..., :2] / P[..., 2:3] + c


def _smooth_walk(rng: np.random.Generator, n: int, amplitude: float, fps: float = 25.0) -> np.ndarray:
    """Sum of slow sinusoids with random phases, within +-amplitude."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for _ in range(3):
        out += np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 2 * np.pi))
    return amplitude * out / 3.0


def make_video(model: FaceModel, n_frames: int = 200, size: int = 512, focal: float = 1100.0,
               noise_px: float = 0.7, seed: int = 0, rotation_deg: tuple[float, float, float] = (8, 12, 6),
               distance: float = 0.62, identity_scale: float = 1.0, expression_scale: float = 0.4,
               invalid_fraction: float = 0.0) -> SyntheticVideo:
    """A talking-head-like landmark track: smooth head motion, random identity and expressions.

    Global identity modes are drawn N(0, identity_scale^2); local corrective modes (builtin) at a
    quarter of that. Invalid frames get garbage landmarks (random points) and valid=False.
    """
    rng = np.random.default_rng(seed)
    scale = size / 512.0
    identity = rng.standard_normal(model.n_identity) * identity_scale
    local = np.array([name.startswith("lmk") for name in model.id_names] + [False] * (
        model.n_identity - len(model.id_names)))
    identity[local] *= 0.25
    expression = np.stack([np.abs(_smooth_walk(rng, n_frames, expression_scale * 2)) if j == 0 else
                           _smooth_walk(rng, n_frames, expression_scale) for j in range(model.n_expression)], 1)
    euler = np.stack([np.deg2rad(_smooth_walk(rng, n_frames, a)) for a in rotation_deg], 1)
    R = R_from_euler(euler)
    t = np.stack([_smooth_walk(rng, n_frames, 0.02), _smooth_walk(rng, n_frames, 0.015),
                  distance + _smooth_walk(rng, n_frames, 0.03)], 1)
    f = focal * scale
    mean, idb, exb = model.landmark_arrays()
    X = mean + np.tensordot(identity, idb, axes=1) + np.einsum("ne,ekc->nkc", expression, exb)
    clean = project(X, R, t, f, size)
    lms = clean + rng.standard_normal(clean.shape) * noise_px * scale
    valid = np.ones(n_frames, bool)
    n_bad = int(round(invalid_fraction * n_frames))
    if n_bad:
        bad = rng.choice(n_frames, n_bad, replace=False)
        valid[bad] = False
        lms[bad] = rng.uniform(0, size, (n_bad, 68, 2))
    return SyntheticVideo(lms=lms, clean=clean, valid=valid, euler=euler, R=R, t=t, identity=identity,
                          expression=expression, focal=f, size=size)


def rotation_error_deg(R_est: np.ndarray, R_true: np.ndarray) -> np.ndarray:
    """Geodesic angle [N] in degrees between rotation sets."""
    rel = np.einsum("nji,njk->nik", R_est, R_true)
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)
    return np.rad2deg(np.arccos(cos))


def relative_rotation_error_deg(R_est: np.ndarray, R_true: np.ndarray) -> np.ndarray:
    """Per-frame angle [N] in degrees after removing the best constant change of head frame Q
    (R_est ~ R_true @ Q): the error that matters for rendering, since the head frame is arbitrary."""
    M = np.einsum("nji,njk->ik", R_true, R_est)
    U, _, Vt = np.linalg.svd(M)
    Q = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    return rotation_error_deg(R_est, R_true @ Q)
