"""Head tracking: fit a linear face model to 68 landmarks per frame, all frames at once (torch, LBFGS).

Steps (method.md section 1, landmarks only):
1. Focal length: for every value of a grid (given at 512 px, scaled to the image size) fit pose,
   identity and expression on an evenly spaced subset of frames; keep the focal with the lowest
   objective (data + priors). All grid values are fitted together as one batch.
2. All frames with that focal: a closed-form weak-perspective pose per frame, then pose alone, then
   pose + identity (shared) + expression (per frame) with L2 priors, every frame on its own.
3. Frames whose landmark RMSE then exceeds `outlier_px` lose their data term (garbage landmarks that
   the landmark step thought valid), like the frames marked invalid in landmarks.npz.
4. The joint fit again with a temporal smoothness term: second differences of the image positions of
   12 rigid landmarks (jaw ends, chin, brows, eye corners, nose tip, mouth corners), first
   differences of the expression, and (`smooth_ends`) first differences of the pose over the first and
   last END_FRAMES frames, which have one neighbour only; every frame's data term is weighted by a
   Cauchy weight of its landmark RMSE (`frame_robust`), so that frames whose landmarks are off as a
   whole follow their neighbours; outliers are checked once more.
5. Optionally (`video_modes` > 0) a few expression modes are estimated from the video's own landmark
   residuals (see `residual_modes`) and appended to the model's expression basis for a last refit; the
   track's `expression` then holds the model's E coefficients followed by these, and `video_modes`
   holds their landmark displacements.
6. Frames without a data term get their pose and expression interpolated from the neighbouring fitted
   frames (slerp for rotations), never from their landmarks; their `reproj_err` is NaN, `used` False.
7. The fit fails (InputError, nothing written) when the mean error over fitted frames exceeds
   `max_error_px`, or when more than `max_outlier_fraction` of the valid frames are outliers; the
   message lists the worst frames.

Data term: per landmark a pseudo-Huber of the pixel error (`robust_px`), weighted (jaw contour 0.25,
it slides along the face outline in 2D detectors; the landmarks that move with speech, SPEECH_POINTS,
times `mouth_weight` until the video modes are estimated, with the expression priors scaled alike so
that the expression still fits them), averaged per frame. The mouth must not leak into the head pose:
while the pose leans on the rigid landmarks, the jaw motion the model lacks (a 2D detector's
jaw-dependent bias, a jaw unlike the model's) stays in the landmark residuals, from which the video's
own modes are estimated; these are zeroed on RIGID_POINTS (upper jaw contour, nose bridge and tip, eye
corners), so that they cannot move the head, and the last refit weighs the speech landmarks in full.
The model's own basis is left as it is (its brow modes move the eye corners, BFM's modes are global). Pixel thresholds, priors and
smoothness are expressed at 512 px and scaled with the image size (thresholds never below 1.5 / 4 px).
The optimiser sees parameters rescaled by a diagonal Gauss-Newton curvature estimate, float32, on CPU
(one thread is fastest here) or GPU.

Camera: pinhole, square pixels, principal point at the image centre ((size - 1) / 2 in the pixel-centre
convention of CONTRACTS.md), OpenCV axes; world = the model's head frame in metres (see
gtalker.fit.rotation for the pose and Euler conventions).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gtalker.common import InputError, atomic_path
from gtalker.fit.facemodel import FaceModel
from gtalker.fit.rotation import (R_from_rvec, euler_from_R, fill_gaps, fill_rotation_gaps, head_to_camera,
                                  rvec_from_R)

log = logging.getLogger("gtalker.fit")

REF_SIZE = 512.0
DTYPE = torch.float32     # float64 doubles the time for no visible gain at pixel precision
JAW_WEIGHT = 0.25        # the jaw contour (0-16) slides along the face outline in 2D detectors
# Detectors are ~1 px precise at any resolution: the scaled thresholds never go below these (pixels).
MIN_ERROR_PX = 1.5
MIN_OUTLIER_PX = 4.0
# Landmarks whose image acceleration measures rigid jitter: jaw ends, chin, brows, eye corners,
# nose tip, mouth corners (spread over the face and in depth).
HEAD_RADIUS = 0.1  # metres: out-of-plane rotation steps count as the image motion of a point this far out
END_FRAMES = 6     # frames at each sequence end whose steps are penalised (fit.smooth_ends)
SMOOTH_POINTS = [0, 8, 16, 19, 24, 36, 39, 42, 45, 30, 48, 54]
# Landmarks that move with speech: the lower jaw contour (3-13) and the lips (48-67).
SPEECH_POINTS = list(range(1, 16)) + list(range(31, 36)) + list(range(48, 68))
# Landmarks that no expression moves (upper jaw contour, nose, eye corners): they carry the head pose.
# The expression basis is zeroed on them, so that the jaw cannot tilt the head.
RIGID_POINTS = [0, 16, 27, 28, 29, 30, 36, 39, 42, 45]


@dataclass
class FitConfig:
    """Head-fit settings (config section `fit`, pixel values at 512 px); each field is a CLI flag."""

    focal_min: float = 600.0
    focal_max: float = 1500.0
    focal_step: float = 100.0
    focal_frames: int = 48
    iterations: int = 200
    smooth: float = 20.0
    smooth_expression: float = 0.05
    reg_identity: float = 0.02
    reg_expression: float = 0.05
    max_error_px: float = 5.0
    outlier_px: float = 15.0
    max_outlier_fraction: float = 0.25
    robust_px: float = 3.0          # pseudo-Huber scale (px at 512); 0 = squared
    video_modes: int = 4            # expression modes estimated from the video
    mouth_weight: float = 0.5       # weight of the landmarks speech moves (lips, lower jaw, nose base)
    frame_robust: float = 3.0       # per-frame Cauchy weight scale (x median landmark RMSE); 0 = off
    smooth_ends: float = 0.3        # pose step penalty over the first/last frames; 0 = off

    def focal_grid(self, size: int) -> np.ndarray:
        """Focal candidates in pixels for an image of `size`."""
        grid = np.arange(self.focal_min, self.focal_max + 0.5 * self.focal_step, self.focal_step)
        if len(grid) == 0 or self.focal_step <= 0:
            raise InputError("fit: focal grid is empty; check fit.focal_min/focal_max/focal_step")
        return grid * size / REF_SIZE


@dataclass
class HeadFit:
    """A fitted track (see CONTRACTS.md, results/D/fit/track.npz)."""

    focal: float
    cx: float
    cy: float
    size: int
    R: np.ndarray
    t: np.ndarray
    expression: np.ndarray
    identity: np.ndarray
    reproj_err: np.ndarray
    used: np.ndarray
    model: str
    focal_candidates: np.ndarray = field(default_factory=lambda: np.zeros(0))
    focal_objective: np.ndarray = field(default_factory=lambda: np.zeros(0))
    video_modes: np.ndarray = field(default_factory=lambda: np.zeros((0, 68, 3)))

    @property
    def euler(self) -> np.ndarray:
        return euler_from_R(self.R)

    @property
    def n_frames(self) -> int:
        return len(self.R)


def save_head_fit(path: str | os.PathLike, track: HeadFit) -> None:
    """Write track.npz atomically."""
    arrays = dict(
        focal=np.float64(track.focal), cx=np.float64(track.cx), cy=np.float64(track.cy),
        size=np.int32(track.size), R=track.R.astype(np.float64), t=track.t.astype(np.float64),
        euler=track.euler.astype(np.float64), expression=track.expression.astype(np.float32),
        identity=track.identity.astype(np.float32), reproj_err=track.reproj_err.astype(np.float32),
        used=track.used.astype(bool), model=np.array(track.model),
        focal_candidates=track.focal_candidates.astype(np.float64),
        focal_objective=track.focal_objective.astype(np.float64),
        video_modes=track.video_modes.astype(np.float32),
    )
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load_head_fit(path: str | os.PathLike) -> HeadFit:
    """Read track.npz, naming the file when it is missing or incomplete."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: track file not found; run the rule fit_face_model")
    with np.load(p, allow_pickle=False) as d:
        missing = [k for k in ("focal", "cx", "cy", "size", "R", "t", "expression", "identity", "reproj_err")
                   if k not in d]
        if missing:
            raise InputError(f"{p}: track lacks {missing}; delete it and rerun fit_face_model")
        if len(d["R"]) == 0:
            raise InputError(f"{p}: track has no frames")
        return HeadFit(
            focal=float(d["focal"]), cx=float(d["cx"]), cy=float(d["cy"]), size=int(d["size"]),
            R=d["R"].astype(np.float64), t=d["t"].astype(np.float64),
            expression=d["expression"].astype(np.float64), identity=d["identity"].astype(np.float64),
            reproj_err=d["reproj_err"].astype(np.float64),
            used=d["used"].astype(bool) if "used" in d else np.isfinite(d["reproj_err"]),
            model=str(d["model"]) if "model" in d else "unknown",
            focal_candidates=d["focal_candidates"] if "focal_candidates" in d else np.zeros(0),
            focal_objective=d["focal_objective"] if "focal_objective" in d else np.zeros(0),
            video_modes=d["video_modes"].astype(np.float64) if "video_modes" in d else np.zeros((0, 68, 3)),
        )


def load_landmarks(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(lms [N,68,2] float64, valid [N] bool) from landmarks.npz; non-finite frames count as invalid."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: landmarks file not found; run the face stage (rule detect_landmarks) first")
    with np.load(p, allow_pickle=False) as d:
        if "lms" not in d:
            raise InputError(f"{p}: has no 'lms' array (expected [N,68,2] as in CONTRACTS.md)")
        lms = d["lms"].astype(np.float64)
        valid = d["valid"].astype(bool) if "valid" in d else np.ones(len(lms), bool)
    if lms.ndim != 3 or lms.shape[1:] != (68, 2):
        raise InputError(f"{p}: 'lms' must be [N,68,2], got {lms.shape}")
    if valid.shape != (len(lms),):
        raise InputError(f"{p}: 'valid' must be [N] with N={len(lms)}, got {valid.shape}")
    finite = np.isfinite(lms).all(axis=(1, 2))
    valid = valid & finite
    lms = np.where(np.isfinite(lms), lms, 0.0)
    if len(lms) == 0:
        raise InputError(f"{p}: no frames")
    if not valid.any():
        raise InputError(f"{p}: no frame has valid landmarks (no face detected anywhere); check the video "
                         "shows a face, or the landmark backend")
    return lms, valid


def landmark_weights(mouth_weight: float = 1.0) -> np.ndarray:
    """Per-landmark weights of the data term: jaw contour JAW_WEIGHT, landmarks that move with speech
    (lips, lower jaw contour) scaled by `mouth_weight`."""
    w = np.ones(68)
    w[:17] = JAW_WEIGHT
    w[SPEECH_POINTS] *= mouth_weight
    return w


def rigid_masked(basis: np.ndarray) -> np.ndarray:
    """A copy of an expression basis [E,68,3] with no motion of the RIGID_POINTS."""
    out = np.array(basis, dtype=np.float64, copy=True)
    out[:, RIGID_POINTS] = 0.0
    return out


def weak_perspective_init(model_lm: np.ndarray, lms: np.ndarray, focal: np.ndarray | float,
                          cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form pose per frame (rvec [N,3], t [N,3] metres) from a scaled-orthographic fit.

    model_lm [68,3] (world), lms [N,68,2] pixels, focal scalar or [N].
    """
    focal = np.broadcast_to(np.asarray(focal, np.float64), (len(lms),))
    mc = model_lm - model_lm.mean(axis=0)
    lc = lms - lms.mean(axis=1, keepdims=True)
    pinv = np.linalg.inv(mc.T @ mc) @ mc.T                      # [3,68]
    A = np.einsum("nkd,jk->ndj", lc, pinv)                       # [N,2,3] lc ~ mc @ A^T
    U, S, Vt = np.linalg.svd(A, full_matrices=False)
    rows = U @ Vt                                                # nearest orthonormal 2x3
    scale = S.mean(axis=1)
    R = np.concatenate([rows, np.cross(rows[:, 0], rows[:, 1])[:, None]], axis=1)
    scale = np.maximum(scale, 1e-6)
    tz = focal / scale
    centre = lms.mean(axis=1)
    rot_mean = R @ model_lm.mean(axis=0)
    t = np.stack([(centre[:, 0] - cx) / scale - rot_mean[:, 0],
                  (centre[:, 1] - cy) / scale - rot_mean[:, 1],
                  tz - rot_mean[:, 2]], axis=1)
    return rvec_from_R(R), t


class Problem:
    """Batched landmark-fitting objective over B frames (possibly several independent problems).

    The optimiser works on rescaled parameters u (value = u * scale) whose scales come from the
    objective's curvature (diagonal Gauss-Newton estimate), so that LBFGS sees a well-conditioned
    problem: rotations, translations along and across the view, and shape coefficients differ in
    sensitivity by orders of magnitude otherwise.
    """

    def __init__(self, model: FaceModel, lms: np.ndarray, used: np.ndarray, focal: np.ndarray,
                 cx: float, cy: float, size: int, settings: FitConfig, device: torch.device,
                 group: np.ndarray | None = None, n_groups: int = 1, temporal: bool = True) -> None:
        dt = DTYPE
        mean, idb, exb = model.landmark_arrays()
        self.dev = device
        self.mean = torch.tensor(mean, dtype=dt, device=device)
        self.idb = torch.tensor(idb, dtype=dt, device=device)
        self.exb = torch.tensor(exb, dtype=dt, device=device)
        self.lms = torch.tensor(lms, dtype=dt, device=device)
        self.used = torch.tensor(used, dtype=dt, device=device)
        self.focal = torch.tensor(np.broadcast_to(focal, (len(lms),)).copy(), dtype=dt, device=device)
        self.c = torch.tensor([cx, cy], dtype=dt, device=device)
        self.px = REF_SIZE / size                                   # pixels -> 512-px units
        self.w = torch.zeros(68, dtype=dt, device=device)
        self._weigh_speech(settings.mouth_weight)
        self.s = settings
        self.group = torch.tensor(np.zeros(len(lms), np.int64) if group is None else group, device=device)
        self.n_groups = n_groups
        self.temporal = temporal
        B = len(lms)

        def zeros(*shape: int) -> torch.Tensor:
            return torch.zeros(*shape, dtype=dt, device=device, requires_grad=True)

        def ones(*shape: int) -> torch.Tensor:
            return torch.ones(*shape, dtype=dt, device=device)

        self.u_rot, self.u_t = zeros(B, 3), zeros(B, 3)
        self.u_exp, self.u_id = zeros(B, model.n_expression), zeros(n_groups, model.n_identity)
        self.s_rot, self.s_t = ones(B, 3), ones(B, 3)
        self.s_exp, self.s_id = ones(B, model.n_expression), ones(n_groups, model.n_identity)

    # Parameter values from the rescaled optimisation variables.
    @property
    def rvec(self) -> torch.Tensor:
        return self.u_rot * self.s_rot

    @property
    def t(self) -> torch.Tensor:
        return self.u_t * self.s_t

    @property
    def exp(self) -> torch.Tensor:
        return self.u_exp * self.s_exp

    @property
    def idc(self) -> torch.Tensor:
        return self.u_id * self.s_id

    def values(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Copies of (rvec, t, expression, identity)."""
        with torch.no_grad():
            return self.rvec.clone(), self.t.clone(), self.exp.clone(), self.idc.clone()

    def set_values(self, rvec: torch.Tensor, t: torch.Tensor, exp: torch.Tensor, idc: torch.Tensor) -> None:
        """Set all parameter values; the scales are recomputed for the new depths first."""
        with torch.no_grad():
            self._rescale(t[:, 2])
            for u, sc, v in zip((self.u_rot, self.u_t, self.u_exp, self.u_id),
                                (self.s_rot, self.s_t, self.s_exp, self.s_id), (rvec, t, exp, idc)):
                u.copy_(v / sc)

    def set_pose(self, rvec: np.ndarray, t: np.ndarray) -> None:
        """Set every frame's pose (head-frame axis-angle, metres), keeping the shape coefficients."""
        _, _, exp, idc = self.values()
        as_tensor = lambda a: torch.tensor(a, dtype=self.u_t.dtype, device=self.dev)  # noqa: E731
        self.set_values(as_tensor(rvec), as_tensor(t), exp, idc)

    def set_used(self, used: np.ndarray) -> None:
        """Change which frames have a data term, or its weight per frame (keeps the parameter values)."""
        values = self.values()
        with torch.no_grad():
            self.used.copy_(torch.tensor(np.asarray(used, np.float64), dtype=self.used.dtype))
        self.set_values(*values)

    def _weigh_speech(self, mouth_weight: float) -> None:
        """Landmark weights with the speech landmarks at `mouth_weight`; the expression priors follow
        it, so that down-weighting them changes what the pose sees, not how closely the expression
        fits them."""
        w = landmark_weights(mouth_weight)
        with torch.no_grad():
            self.w.copy_(torch.tensor(w / landmark_weights().sum(), dtype=self.w.dtype))
        self.exp_weight = mouth_weight

    def set_mouth_weight(self, mouth_weight: float) -> None:
        """Change the speech landmarks' weight (keeps the parameter values)."""
        values = self.values()
        self._weigh_speech(mouth_weight)
        self.set_values(*values)

    def set_temporal(self, temporal: bool) -> None:
        """Switch the temporal smoothness term on or off (the scales depend on it)."""
        values = self.values()
        self.temporal = temporal
        self.set_values(*values)

    def interpolate_unused(self) -> None:
        """Replace the pose and expression of frames without a data term by interpolation."""
        rvec, t, exp, idc = self.values()
        used = self.used.cpu().numpy() > 0
        R = fill_rotation_gaps(R_from_rvec(rvec.cpu().numpy().astype(np.float64)), used)
        as_tensor = lambda a: torch.tensor(a, dtype=t.dtype, device=self.dev)  # noqa: E731
        self.set_values(as_tensor(rvec_from_R(R)), as_tensor(fill_gaps(t.cpu().numpy(), used)),
                        as_tensor(fill_gaps(exp.cpu().numpy(), used)), idc)

    def add_expression_modes(self, extra: np.ndarray) -> None:
        """Append expression modes [k,68,3] (coefficients start at zero)."""
        rvec, t, exp, idc = self.values()
        extra_t = torch.tensor(rigid_masked(extra), dtype=self.exb.dtype, device=self.dev)
        self.exb = torch.cat([self.exb, extra_t])
        exp = torch.cat([exp, torch.zeros(len(exp), len(extra), dtype=exp.dtype, device=self.dev)], 1)
        self.u_exp = torch.zeros_like(exp, requires_grad=True)
        self.s_exp = torch.ones_like(exp)
        self.set_values(rvec, t, exp, idc)

    def _rescale(self, depth: torch.Tensor) -> None:
        """Diagonal curvature estimates of the objective -> parameter scales (1/sqrt(curvature))."""
        s = self.s
        w = self.w
        z = depth.clamp(min=1e-3)
        g = self.focal / z * self.px                                         # px per metre, across view
        centre = (self.mean * w[:, None]).sum(0)
        rel = self.mean - centre
        r2 = (w * (rel ** 2).sum(-1)).sum()
        rxy2 = (w * (rel[:, :2] ** 2).sum(-1)).sum()
        n_used = torch.zeros(self.n_groups, dtype=z.dtype, device=self.dev).index_add(0, self.group, self.used)
        n_all = torch.zeros_like(n_used).index_add(0, self.group, torch.ones_like(z))
        per_frame = 1.0 / n_used.clamp(min=1)[self.group]                  # data term is a mean per group
        smooth = 6.0 * s.smooth / len(z) if self.temporal else 0.0        # second differences: 1+4+1
        c_rot = (g ** 2 * r2) * (per_frame * self.used + smooth) + 1e-6
        c_txy = g ** 2 * (per_frame * self.used + smooth) + 1e-6
        c_tz = (g / z) ** 2 * rxy2 * (per_frame * self.used + smooth) + 1e-6
        self.s_rot = (1.0 / torch.sqrt(c_rot))[:, None].expand(-1, 3).contiguous()
        self.s_t = torch.stack([c_txy, c_txy, c_tz], 1).rsqrt()

        def basis_gain(basis: torch.Tensor) -> torch.Tensor:
            """Per mode: squared image motion per unit coefficient over g^2 (in-plane + depth)."""
            xy = (w * (basis[..., :2] ** 2).sum(-1)).sum(-1)
            zz = (w * basis[..., 2] ** 2 * (self.mean[:, :2] ** 2).sum(-1)).sum(-1)
            return xy, zz

        if self.exb.shape[0]:
            xy, zz = basis_gain(self.exb)
            data = (g[:, None] ** 2 * xy + (g / z)[:, None] ** 2 * zz) * (per_frame * self.used)[:, None]
            prior = self.exp_weight * s.reg_expression / n_all[self.group]
            c_exp = (data + prior[:, None] + 2.0 * self.exp_weight * s.smooth_expression / len(z)
                     * float(self.temporal) + 1e-9)
            self.s_exp = c_exp.rsqrt()
        xy, zz = basis_gain(self.idb)
        frame_gain = (g[:, None] ** 2 * xy + (g / z)[:, None] ** 2 * zz) * (per_frame * self.used)[:, None]
        data = torch.zeros(self.n_groups, xy.shape[0], dtype=z.dtype, device=self.dev).index_add(
            0, self.group, frame_gain)
        self.s_id = (data + s.reg_identity + 1e-9).rsqrt()

    def identity_shape(self) -> torch.Tensor:
        """Neutral landmarks per group [G,68,3]."""
        return self.mean + torch.einsum("gi,ikc->gkc", self.idc, self.idb)

    def shapes(self) -> torch.Tensor:
        """Landmarks in the head frame [B,68,3]."""
        neutral = self.identity_shape()
        X = neutral.expand(len(self.lms), -1, -1) if self.n_groups == 1 else neutral[self.group]
        if self.exb.shape[0]:
            X = X + torch.einsum("be,ekc->bkc", self.exp, self.exb)
        return X

    def project(self, X: torch.Tensor, R: torch.Tensor | None = None) -> torch.Tensor:
        """Pixels [B,K,2] of head-frame points [B,K,3]."""
        R = head_to_camera(self.rvec) if R is None else R
        P = torch.baddbmm(self.t[:, :, None], R, X.transpose(1, 2)).transpose(1, 2)
        z = P[..., 2:3].clamp(min=1e-4)
        return self.focal[:, None, None] * P[..., :2] / z + self.c

    def frame_errors(self, R: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted robust squared error per frame [B] in 512-px units squared.

        Pseudo-Huber per landmark: quadratic below `robust_px`, linear above, so that a few
        misplaced landmarks do not tilt the head.
        """
        d = (self.project(self.shapes(), R) - self.lms) * self.px
        sq = (d * d).sum(-1)
        k = self.s.robust_px
        if k > 0:
            sq = 2 * k * k * (torch.sqrt(1 + sq / (k * k)) - 1)
        return (sq * self.w).sum(-1)

    def objective(self, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(total objective, per-group objective) for stage 'pose' or 'full'."""
        s = self.s
        R = head_to_camera(self.rvec)
        err = self.frame_errors(R) * self.used
        per_group = torch.zeros(self.n_groups, dtype=err.dtype, device=self.dev)
        count = torch.zeros(self.n_groups, dtype=err.dtype, device=self.dev)
        per_group = per_group.index_add(0, self.group, err)
        count = count.index_add(0, self.group, self.used).clamp(min=1)
        per_group = per_group / count
        if stage == "full":
            idc, exp = self.idc, self.exp
            per_group = per_group + s.reg_identity * (idc ** 2).sum(-1)
            exp_sq = torch.zeros_like(per_group).index_add(0, self.group, (exp ** 2).sum(-1))
            n_frames = torch.zeros_like(per_group).index_add(0, self.group, torch.ones_like(err))
            per_group = per_group + self.exp_weight * s.reg_expression * exp_sq / n_frames
        if self.temporal and len(err) >= 3:
            rigid = self.identity_shape()[:, SMOOTH_POINTS].expand(len(err), -1, -1)
            pts = self.project(rigid, R) * self.px
            acc = pts[2:] - 2 * pts[1:-1] + pts[:-2]
            smooth = s.smooth * (acc * acc).sum(-1).mean(-1).sum() / len(err)
            if s.smooth_ends > 0 and len(err) >= 2 * END_FRAMES:
                smooth = smooth + s.smooth_ends * self.end_steps(pts)
            if stage == "full" and self.exb.shape[0]:
                exp = self.exp
                smooth = smooth + (self.exp_weight * s.smooth_expression
                                   * ((exp[1:] - exp[:-1]) ** 2).sum() / len(err))
            per_group = per_group + smooth  # temporal problems have a single group
        return per_group.sum(), per_group.detach()

    def end_steps(self, pts: torch.Tensor) -> torch.Tensor:
        """Squared frame-to-frame steps over the first and last END_FRAMES frames, fading inwards.

        A frame at a sequence end has one neighbour, so second differences cannot stop the pose
        there from drifting with bad landmarks (the first/last frames of a clip often are); the
        steps are measured as image motion of the smoothness points plus, for rotations out of the
        image plane (weakly seen by landmarks), of a point HEAD_RADIUS from the head centre.
        """
        fade = torch.exp(-torch.arange(END_FRAMES, dtype=pts.dtype, device=self.dev) / (END_FRAMES / 3))
        total = pts.new_zeros(())
        g = self.focal / self.t[:, 2].detach().clamp(min=1e-3) * self.px * HEAD_RADIUS
        for sl in (slice(0, END_FRAMES + 1), slice(-END_FRAMES - 1, None)):
            p, r = pts[sl], self.rvec[sl][:, :2] * g[sl, None]
            step = ((p[1:] - p[:-1]) ** 2).sum(-1).mean(-1) + ((r[1:] - r[:-1]) ** 2).sum(-1)
            total = total + (step * (fade if sl.start == 0 else fade.flip(0))).sum()
        return total / len(pts)

    def params(self, stage: str) -> list[torch.Tensor]:
        pose = [self.u_rot, self.u_t]
        return pose if stage == "pose" else pose + [self.u_exp, self.u_id]

    def run(self, stage: str, iterations: int, desc: str) -> torch.Tensor:
        """Minimise the stage's objective with LBFGS; return the final per-group objective."""
        opt = torch.optim.LBFGS(self.params(stage), lr=1.0, max_iter=iterations, history_size=30,
                                tolerance_grad=1e-10, tolerance_change=1e-12, line_search_fn="strong_wolfe")
        bar = tqdm(total=iterations, desc=desc, file=sys.stderr, leave=False, mininterval=1.0)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            total, _ = self.objective(stage)
            if not torch.isfinite(total):
                raise FloatingPointError("objective is not finite")
            total.backward()
            bar.update(1)
            return total

        try:
            opt.step(closure)
        except FloatingPointError as err:
            bar.close()
            raise InputError(f"fit: the optimisation diverged ({err}); check the landmarks and the focal "
                             "grid (fit.focal_min/focal_max)") from err
        bar.close()
        with torch.no_grad():
            _, per_group = self.objective(stage)
        return per_group

    def weighted_rmse_px(self) -> np.ndarray:
        """Per-frame landmark RMSE in image pixels with the data term's landmark weights [B]."""
        with torch.no_grad():
            d = self.project(self.shapes()) - self.lms
            return torch.sqrt(((d * d).sum(-1) * self.w).sum(-1) / self.w.sum()).cpu().numpy()

    def rmse_px(self) -> np.ndarray:
        """Per-frame landmark RMSE in pixels of the image (unweighted) [B]."""
        with torch.no_grad():
            d = self.project(self.shapes()) - self.lms
            return torch.sqrt((d * d).sum(-1).mean(-1)).cpu().numpy()


def evenly_spaced_frames(used: np.ndarray, k: int) -> np.ndarray:
    """Up to k evenly spaced indices of used frames (bool mask [N])."""
    idx = np.flatnonzero(used)
    if len(idx) <= k:
        return idx
    return idx[np.round(np.linspace(0, len(idx) - 1, k)).astype(int)]


def search_focal(model: FaceModel, lms: np.ndarray, used: np.ndarray, size: int, settings: FitConfig,
                 device: torch.device) -> tuple[float, np.ndarray, np.ndarray]:
    """(best focal, candidates, objective per candidate) from a batched fit on a subset of frames."""
    cands = settings.focal_grid(size)
    sub = evenly_spaced_frames(used, settings.focal_frames)
    K, M = len(cands), len(sub)
    cx = cy = (size - 1) / 2.0
    batch_lms = np.tile(lms[sub], (K, 1, 1))
    focal = np.repeat(cands, M)
    group = np.repeat(np.arange(K), M)
    prob = Problem(model, batch_lms, np.ones(K * M, bool), focal, cx, cy, size, settings, device,
                   group=group, n_groups=K, temporal=False)
    mean_lm = model.landmark_arrays()[0]
    prob.set_pose(*weak_perspective_init(mean_lm, batch_lms, focal, cx, cy))
    prob.run("pose", max(20, settings.iterations // 4), "focal search (pose)")
    objective = prob.run("full", max(40, settings.iterations // 2), "focal search (full)").cpu().numpy()
    best = int(np.argmin(objective))
    log.info("focal search on %d frames: %s -> %.1f px",
             M, ", ".join(f"{f:.0f}:{o:.3f}" for f, o in zip(cands, objective)), cands[best])
    return float(cands[best]), cands, objective


def _interpolated_start(model: FaceModel, lms: np.ndarray, used: np.ndarray, focal: float,
                        cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
    """Weak-perspective start for used frames, interpolated over the others."""
    rvec, t = weak_perspective_init(model.landmark_arrays()[0], lms, focal, cx, cy)
    R = fill_rotation_gaps(R_from_rvec(rvec), used)
    return rvec_from_R(R), fill_gaps(t, used)


def residual_modes(prob: Problem, used: np.ndarray, k: int) -> np.ndarray:
    """Up to k expression modes [k,68,3] (head frame, metres; 1 unit = 1 std over the video) estimated
    from a fit's landmark residuals: each residual is lifted to a displacement in the camera plane at
    the landmark's depth and rotated into the head frame; the RIGID_POINTS' residuals (the pose's) and
    the mean over frames (identity's part) are removed; the leading principal components remain."""
    with torch.no_grad():
        R = head_to_camera(prob.rvec)
        P = torch.baddbmm(prob.t[:, :, None], R, prob.shapes().transpose(1, 2)).transpose(1, 2)
        uv = prob.focal[:, None, None] * P[..., :2] / P[..., 2:3] + prob.c
        lift = (prob.lms - uv) * P[..., 2:3] / prob.focal[:, None, None]
        cam = torch.cat([lift, torch.zeros_like(lift[..., :1])], -1)
        head = (cam @ R).cpu().numpy().astype(np.float64)          # R^T applied to row vectors
    D = rigid_masked(head[used]).reshape(int(used.sum()), -1)
    D = D - D.mean(axis=0)
    _, S, Vt = np.linalg.svd(D, full_matrices=False)
    k = min(k, len(S))
    return rigid_masked((Vt[:k] * (S[:k] / np.sqrt(len(D)))[:, None]).reshape(k, 68, 3))


def fit_video(model: FaceModel, lms: np.ndarray, valid: np.ndarray, size: int, settings: FitConfig,
              device: torch.device | str = "cpu", focal: float | None = None) -> HeadFit:
    """Fit the model to every frame's landmarks; see the module docstring. Raises InputError on failure."""
    device = torch.device(device)
    N = len(lms)
    cx = cy = (size - 1) / 2.0
    used = valid.copy()
    if focal is None:
        focal, cands, objective = search_focal(model, lms, used, size, settings, device)
    else:
        cands, objective = np.array([focal]), np.array([np.nan])
    prob = Problem(model, lms, used, np.full(N, focal), cx, cy, size, settings, device)
    prob.set_pose(*_interpolated_start(model, lms, used, focal, cx, cy))
    scale = size / REF_SIZE
    # Frames fitted independently first, so that garbage landmarks cannot drag their neighbours.
    prob.set_temporal(False)
    prob.run("pose", max(30, settings.iterations // 3), "pose")
    prob.run("full", max(30, settings.iterations // 2), "pose+shape per frame")
    outlier_px = max(settings.outlier_px * scale, MIN_OUTLIER_PX)
    used = _drop_outliers(prob, used, valid, outlier_px, settings.max_outlier_fraction)
    prob.set_temporal(True)
    _weigh_frames(prob, used, settings.frame_robust)
    prob.run("full", settings.iterations, "pose+shape")
    before = used.sum()
    used = _drop_outliers(prob, used, valid, outlier_px, settings.max_outlier_fraction)
    _weigh_frames(prob, used, settings.frame_robust)
    if used.sum() < before or settings.frame_robust > 0:
        prob.run("full", max(30, settings.iterations // 2), "refit")
    err = prob.rmse_px()
    video_modes = np.zeros((0, 68, 3))
    if settings.video_modes > 0 and used.sum() > 2 * settings.video_modes:
        video_modes = residual_modes(prob, used, settings.video_modes)
        prob.add_expression_modes(video_modes)
        # The video modes now hold the jaw motion the model lacks (estimated while the pose leant on the
        # rigid landmarks), so the speech landmarks can count in full again.
        prob.set_mouth_weight(1.0)
        prob.run("full", max(30, settings.iterations // 2), "video modes")
        err = prob.rmse_px()
    mean_err = float(err[used].mean())
    log.info("landmark RMSE over %d fitted frames: mean %.2f px, max %.2f px (focal %.1f px)",
             used.sum(), mean_err, err[used].max(), focal)
    max_err = max(settings.max_error_px * scale, MIN_ERROR_PX)
    if mean_err > max_err:
        raise InputError(_failure(f"mean landmark error {mean_err:.2f} px exceeds fit.max_error_px "
                                  f"({max_err:.2f} px at this size)", err, used))
    with torch.no_grad():
        R = head_to_camera(prob.rvec).cpu().numpy()
        t = prob.t.cpu().numpy()
        expression = prob.exp.cpu().numpy()
        identity = prob.idc[0].cpu().numpy()
    R = fill_rotation_gaps(R, used)
    t = fill_gaps(t, used)
    expression = fill_gaps(expression, used)
    reproj = np.where(used, err, np.nan)
    return HeadFit(focal=float(focal), cx=cx, cy=cy, size=int(size), R=R, t=t, expression=expression,
                 identity=identity, reproj_err=reproj, used=used, model=model.name,
                 focal_candidates=cands, focal_objective=objective, video_modes=video_modes)


def _weigh_frames(prob: Problem, used: np.ndarray, robust: float) -> np.ndarray:
    """Give each used frame a data weight 1 / (1 + (e / (robust * median e))^2) from its weighted
    landmark RMSE e (a Cauchy weight per frame), so that frames whose landmarks are off as a whole
    (motion blur, the first/last frames of a clip) follow their neighbours; robust <= 0: all 1."""
    weights = used.astype(np.float64)
    if robust > 0 and used.sum() >= 3:
        err = prob.weighted_rmse_px()
        scale = robust * max(float(np.median(err[used])), 1e-6)
        weights = weights / (1.0 + (err / scale) ** 2)
        worst = np.flatnonzero(used)[np.argsort(weights[used])[:5]]
        log.info("frame weights: mean %.2f, lowest %s", weights[used].mean(),
                 ", ".join(f"{i} ({weights[i]:.2f})" for i in worst))
    prob.set_used(weights)
    return weights


def _drop_outliers(prob: Problem, used: np.ndarray, valid: np.ndarray, limit_px: float,
                   max_fraction: float) -> np.ndarray:
    """Take frames whose landmark RMSE exceeds limit_px out of the data term (they will be interpolated);
    fail when they are more than max_fraction of the valid frames."""
    err = prob.rmse_px()
    outliers = used & (err > limit_px)
    if not outliers.any():
        return used
    log.warning("%d frame(s) with landmark error above %.1f px are refitted from their neighbours: %s",
                outliers.sum(), limit_px, _frame_list(np.flatnonzero(outliers), err))
    dropped = valid & ~(used & ~outliers)
    if dropped.sum() > max_fraction * max(valid.sum(), 1):
        raise InputError(_failure(f"{dropped.sum()} of {valid.sum()} frames have landmark errors above "
                                  f"{limit_px:.1f} px", err, valid))
    used = used & ~outliers
    prob.set_used(used)
    prob.interpolate_unused()
    return used


def _frame_list(frames: np.ndarray, err: np.ndarray, limit: int = 10) -> str:
    worst = frames[np.argsort(-err[frames])][:limit]
    text = ", ".join(f"{i} ({err[i]:.1f} px)" for i in worst)
    return text + (f" and {len(frames) - limit} more" if len(frames) > limit else "")


def _failure(reason: str, err: np.ndarray, frames: np.ndarray) -> str:
    """The error message of a failed fit, with the worst frames."""
    idx = np.flatnonzero(frames)
    return (f"fit did not converge: {reason}. Worst frames: {_frame_list(idx, err)}. Check those frames' "
            "landmarks (results/<dataset>/face/landmarks.npz), or raise fit.max_error_px / fit.outlier_px")
