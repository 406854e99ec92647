"""Tracking accuracy against the demo video's ground truth (results/_demo/truth.npz).

The demo moves a flat photo by in-plane similarity transforms (rotation about the nose tip,
translation, scale). The head frame of a fit is arbitrary up to a constant rotation, so angles are
compared after removing their median offset; image-plane translation is compared through the nose
tip: the truth moves it by `translation` (rotation and scale are about the nose tip), the fit moves the
projection of its model nose tip; their mean offset is removed. The demo head never tilts, so any
correlation of the fitted pitch or vertical translation with the true mouth opening is the jaw leaking
into the head pose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gtalker.fit.facemodel import FaceModel
from gtalker.fit.tracker import HeadFit


def nose_track(model: FaceModel, track: HeadFit) -> np.ndarray:
    """Image position [N,2] of the fitted neutral nose tip (landmark 30) in every frame."""
    X = model.shape(track.identity)[model.lmk_idx[30]]
    P = np.einsum("nij,j->ni", track.R, X) + track.t
    return track.focal * P[:, :2] / P[:, 2:3] + [track.cx, track.cy]


def demo_accuracy(model: FaceModel, track: HeadFit, truth: dict[str, Any]) -> dict[str, float]:
    """Errors of a track against the demo truth (truth at the same image size as the track)."""
    n = min(track.n_frames, len(truth["rotation_deg"]))
    scale_px = track.size / float(truth["size"])
    euler = np.rad2deg(track.euler[:n])
    rot_true = np.asarray(truth["rotation_deg"][:n], np.float64)
    d_roll = euler[:, 2] - rot_true
    roll_err = np.abs(d_roll - np.median(d_roll))
    out_of_plane = euler[:, :2] - np.median(euler[:, :2], axis=0)
    nose = nose_track(model, track)[:n]
    true_nose = (np.asarray(truth["landmarks_ref"][30], np.float64) + np.asarray(truth["translation"][:n])) * scale_px
    offset = nose - true_nose
    trans_err = np.linalg.norm(offset - offset.mean(axis=0), axis=1)
    depth_scale = 1.0 / track.t[:n, 2]
    scale_true = np.asarray(truth["scale"][:n], np.float64)
    scale_err = np.abs(depth_scale / depth_scale.mean() - scale_true / scale_true.mean())
    used = track.used[:n]
    mouth = np.asarray(truth["mouth_open"][:n], np.float64) if "mouth_open" in truth else np.zeros(n)
    return {
        "frames": int(n),
        "roll_error_deg_mean": float(roll_err.mean()),
        "roll_error_deg_max": float(roll_err.max()),
        "translation_error_px_mean": float(trans_err.mean()),
        "translation_error_pct_of_size": float(100 * trans_err.mean() / track.size),
        "translation_error_px_max": float(trans_err.max()),
        "scale_error_mean": float(scale_err.mean()),
        "out_of_plane_deg_abs_mean": float(np.abs(out_of_plane).mean()),
        "out_of_plane_deg_max": float(np.abs(out_of_plane).max()),
        "pitch_deg_median": float(np.median(euler[:, 0])),
        "yaw_deg_median": float(np.median(euler[:, 1])),
        "reproj_rmse_px_mean": float(np.nanmean(track.reproj_err[:n][used])) if used.any() else float("nan"),
        "reproj_rmse_px_mean_at_512": float(np.nanmean(track.reproj_err[:n][used]) * 512 / track.size)
        if used.any() else float("nan"),
        "max_frame_step_roll_deg": float(np.abs(np.diff(euler[:, 2])).max()) if n > 1 else 0.0,
        "max_frame_step_roll_deg_truth": float(np.abs(np.diff(rot_true)).max()) if n > 1 else 0.0,
        "max_frame_step_translation_px": float(np.linalg.norm(np.diff(nose, axis=0), axis=1).max()) if n > 1 else 0.0,
        "max_frame_step_translation_px_truth":
            float(np.linalg.norm(np.diff(true_nose, axis=0), axis=1).max()) if n > 1 else 0.0,
        # The jitter the fit adds to the true motion: the largest frame-to-frame change of its error.
        "max_frame_step_roll_error_deg": float(np.abs(np.diff(d_roll)).max()) if n > 1 else 0.0,
        "max_frame_step_translation_error_px":
            float(np.linalg.norm(np.diff(offset, axis=0), axis=1).max()) if n > 1 else 0.0,
        # The mouth leaking into the head pose: correlation with the true mouth opening (truth: 0).
        "pitch_mouth_corr": _corr(euler[:, 0], mouth),
        "translation_y_mouth_corr": _corr(track.t[:n, 1], mouth),
        "pitch_deg_per_mouth_open": _slope(mouth, euler[:, 0]),
    }


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (0 when either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y over x (0 when x is constant)."""
    x = x - x.mean()
    den = float((x * x).sum())
    return float((x * (y - y.mean())).sum() / den) if den > 0 else 0.0
