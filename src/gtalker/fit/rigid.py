"""Cameras and initial points from the 68 landmarks alone: no face model, no tracker (method.md section 6,
critique 4: the morphable-model-free path).

Cameras: the generic rigid template of gtalker.fit.template is placed per frame by a weighted
perspective-n-point fit on its rigid landmarks (eye corners, nose bridge and tip, brows; the mouth, jaw
contour, nose base and eyelids are left out: gtalker.fit.template.pose_weights):
1. Focal: every value of a grid (given at 512 px, scaled to the image size) fits the poses of an evenly
   spaced subset of the valid frames; the focal with the lowest mean robust reprojection cost is kept.
2. All valid frames with that focal: a closed-form weak-perspective start (gtalker.fit.tracker), then
   damped Gauss-Newton steps on a pseudo-Huber of the weighted pixel errors (`robust_px`), every frame on
   its own (batched).
3. Frames without valid landmarks, or whose weighted RMSE exceeds `outlier_px`, get their pose
   interpolated from their neighbours (slerp for rotations); `used` is False, `reproj_err` NaN there.
4. Temporal smoothing: a Gaussian of `smooth_frames` frames over the translation and over the
   head-frame rotation vector.
The result is written in the format of results/D/fit/track.npz (model "template68", no identity, no
expression), so that the camera files, the trainability check and every stage after read it unchanged.

Initial points (`init`): landmarks = the 68 landmarks lifted to 3D: each landmark back-projected at the
depth the posed template gives it, in the training frames, median over frames (the video's own face
shape in x and y, the template's depth); random = uniform in a generic head's box (template.HEAD_BOX_MM).

View folder (`view`): results/D/_landmark_cameras/ holds fit/ (this track, transforms_*.json,
points_<init>.ply, trainable.json) and links face -> ../face and split.json -> ../split.json, so that a
stage given `--dataset-dir results/D/_landmark_cameras` trains and renders on these cameras.

CLI:
  python -m gtalker.fit.rigid cameras --landmarks L --frames-json F --split S --out-track T \
      --out-train A --out-val B [--notices N] [--focal-min 600 ... every RigidConfig field]
  python -m gtalker.fit.rigid points --track T --landmarks L --frames-dir D --split S --init landmarks \
      --n-points 10000 --seed 0 --out P
  python -m gtalker.fit.rigid view --dataset-dir results/D --view-dir results/D/_landmark_cameras --out V
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from gtalker.common import InputError, read_json, reports_input_errors, setup_logging, write_json
from gtalker.fit.rotation import FLIP, R_from_rvec, fill_gaps, fill_rotation_gaps
from gtalker.fit.template import head_box, pose_weights, template
from gtalker.fit.tracker import (MIN_OUTLIER_PX, REF_SIZE, HeadFit, evenly_spaced_frames, load_head_fit,
                                 load_landmarks, save_head_fit, weak_perspective_init)
from gtalker.notices import Notices
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.fit.rigid")

MODEL_NAME = "template68"
INITS = ("landmarks", "random")
VIEW_LINKS = ("face", "split.json")


@dataclass
class RigidConfig:
    """Landmark-camera settings (config section `landmark_cameras`, pixel values at 512 px); each field
    is a CLI flag of `cameras`."""

    focal_min: float = 600.0
    focal_max: float = 1500.0
    focal_step: float = 50.0
    focal_frames: int = 64          # frames of the focal search (evenly spaced valid frames)
    iterations: int = 15            # Gauss-Newton steps per frame
    robust_px: float = 3.0          # pseudo-Huber scale of the pixel errors; 0 = squared
    outlier_px: float = 15.0        # weighted RMSE above which a frame's pose is interpolated instead
    smooth_frames: float = 1.0      # Gaussian sigma (frames) of the temporal smoothing; 0 = off

    def focal_grid(self, size: int) -> np.ndarray:
        """Focal candidates in pixels for an image of `size`."""
        if self.focal_step <= 0 or self.focal_max < self.focal_min:
            raise InputError("landmark_cameras: focal grid is empty; check focal_min/focal_max/focal_step")
        grid = np.arange(self.focal_min, self.focal_max + 0.5 * self.focal_step, self.focal_step)
        return grid * size / REF_SIZE


# ----- projection and the per-frame pose fit ------------------------------------------------------------
def project(X: np.ndarray, R: np.ndarray, t: np.ndarray, focal: float, c: float) -> np.ndarray:
    """Pixel positions [N,K,2] of points X [K,3] under poses R [N,3,3], t [N,3] (pinhole, centre c)."""
    P = np.einsum("nij,kj->nki", R, X) + t[:, None, :]
    return focal * P[..., :2] / np.maximum(P[..., 2:3], 1e-9) + c


def _residuals(params: np.ndarray, X: np.ndarray, lms: np.ndarray, sw: np.ndarray, focal: float,
               c: float) -> np.ndarray:
    """Weighted pixel residuals [N,2K] of poses params [N,6] = (head-frame rotation vector, t)."""
    uv = project(X, R_from_rvec(params[:, :3]), params[:, 3:], focal, c)
    return ((uv - lms) * sw[None, :, None]).reshape(len(params), -1)


def _robust(r: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(pseudo-Huber cost per residual, IRLS weight per residual) of residuals r (squared when scale 0)."""
    if scale <= 0:
        return r * r, np.ones_like(r)
    q = 1.0 + (r / scale) ** 2
    return 2 * scale * scale * (np.sqrt(q) - 1.0), 1.0 / np.sqrt(q)


def solve_poses(X: np.ndarray, lms: np.ndarray, weights: np.ndarray, focal: float, c: float,
                iterations: int, robust_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame rigid poses of the points X [K,3] seen at lms [N,K,2] (weights [K] > 0).

    Returns (R [N,3,3], t [N,3], cost [N]: mean robust cost per weighted coordinate). Levenberg-Marquardt
    with a forward-difference Jacobian, all frames as one batch.
    """
    rvec, t = weak_perspective_init(X, lms, focal, c, c)
    params = np.concatenate([rvec, t], axis=1)
    sw = np.sqrt(weights)
    lam = np.full(len(params), 1e-3)
    eps = np.array([1e-6] * 3 + [1e-7] * 3)

    def cost_of(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = _residuals(p, X, lms, sw, focal, c)
        return r, _robust(r, robust_px)[0].mean(axis=1)

    r, cost = cost_of(params)
    for _ in range(iterations):
        J = np.stack([(_residuals(params + np.eye(6)[k] * eps[k], X, lms, sw, focal, c) - r) / eps[k]
                      for k in range(6)], axis=2)                                 # [N,2K,6]
        w = _robust(r, robust_px)[1]
        JtW = np.transpose(J * w[..., None], (0, 2, 1))
        H = JtW @ J
        g = np.einsum("nij,nj->ni", JtW, r)
        diag = np.einsum("nii->ni", H)
        step = np.linalg.solve(H + lam[:, None, None] * np.eye(6) * (diag[:, :, None] + 1e-9), -g[..., None])[..., 0]
        trial = params + step
        r_new, cost_new = cost_of(trial)
        better = cost_new < cost
        params[better], r[better], cost[better] = trial[better], r_new[better], cost_new[better]
        lam = np.where(better, lam * 0.3, lam * 10.0).clip(1e-9, 1e9)
    return R_from_rvec(params[:, :3]), params[:, 3:], cost


def search_focal(X: np.ndarray, lms: np.ndarray, valid: np.ndarray, weights: np.ndarray, size: int,
                 cfg: RigidConfig) -> tuple[float, np.ndarray, np.ndarray]:
    """(best focal, candidates, mean cost per candidate) over a subset of the valid frames."""
    grid = cfg.focal_grid(size)
    sub = lms[evenly_spaced_frames(valid, cfg.focal_frames)]
    c = (size - 1) / 2.0
    robust = cfg.robust_px * size / REF_SIZE
    costs = np.array([solve_poses(X, sub, weights, float(f), c, cfg.iterations, robust)[2].mean() for f in grid])
    best = int(np.argmin(costs))
    log.info("focal search: %s -> %.1f px", ", ".join(f"{f:.0f}:{v:.3g}" for f, v in zip(grid, costs)), grid[best])
    return float(grid[best]), grid, costs


def smooth_poses(R: np.ndarray, t: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian smoothing over time (sigma in frames) of the head-frame rotation vectors and of t."""
    if sigma <= 0 or len(R) < 2:
        return R, t
    ref = Rotation.from_matrix(FLIP @ R[len(R) // 2])
    rel = (ref.inv() * Rotation.from_matrix(FLIP @ R)).as_rotvec()   # small: continuous over the clip
    rel = gaussian_filter1d(rel, sigma, axis=0, mode="nearest")
    R_out = FLIP @ (ref * Rotation.from_rotvec(rel)).as_matrix()
    return R_out, gaussian_filter1d(t, sigma, axis=0, mode="nearest")


def landmark_cameras(lms: np.ndarray, valid: np.ndarray, size: int, cfg: RigidConfig,
                     focal: float | None = None) -> HeadFit:
    """Cameras of every frame from landmarks [N,68,2] (valid [N]) with the rigid template (module docstring)."""
    weights_all = pose_weights()
    sel = weights_all > 0
    X, w, obs = template()[sel], weights_all[sel], lms[:, sel]
    c = (size - 1) / 2.0
    if focal is None:
        focal, grid, costs = search_focal(X, obs, valid, w, size, cfg)
    else:
        grid, costs = np.array([focal]), np.zeros(1)
    idx = np.flatnonzero(valid)
    R = np.tile(np.eye(3), (len(lms), 1, 1))
    t = np.zeros((len(lms), 3))
    R[idx], t[idx], _ = solve_poses(X, obs[idx], w, focal, c, cfg.iterations, cfg.robust_px * size / REF_SIZE)
    err = _weighted_rmse(X, obs, w, R, t, focal, c)
    limit = max(cfg.outlier_px * size / REF_SIZE, MIN_OUTLIER_PX)
    used = valid & (err <= limit)
    if not used.any():
        raise InputError(f"landmarks: no frame's landmarks fit the rigid template within {limit:.1f} px "
                         f"(best {np.nanmin(np.where(valid, err, np.nan)):.1f} px); check the landmarks")
    dropped = np.flatnonzero(valid & ~used)
    if len(dropped):
        log.warning("%d frames fit the template worse than %.1f px and are interpolated: %s", len(dropped), limit,
                    ", ".join(map(str, dropped[:10])))
    R, t = fill_rotation_gaps(R, used), fill_gaps(t, used)
    R, t = smooth_poses(R, t, cfg.smooth_frames)
    full = np.sqrt(np.mean(np.sum((project(X, R, t, focal, c) - obs) ** 2, axis=2), axis=1))
    n = len(lms)
    return HeadFit(focal=float(focal), cx=c, cy=c, size=int(size), R=R, t=t, expression=np.zeros((n, 0)),
                   identity=np.zeros(0), reproj_err=np.where(used, full, np.nan), used=used, model=MODEL_NAME,
                   focal_candidates=grid, focal_objective=costs)


def _weighted_rmse(X: np.ndarray, obs: np.ndarray, w: np.ndarray, R: np.ndarray, t: np.ndarray, focal: float,
                   c: float) -> np.ndarray:
    """Per-frame weighted RMSE (px) of the posed points against obs."""
    d2 = np.sum((project(X, R, t, focal, c) - obs) ** 2, axis=2)
    return np.sqrt((d2 * w).sum(axis=1) / w.sum())


# ----- initial points ------------------------------------------------------------------------------------
def lift_landmarks(track: HeadFit, lms: np.ndarray, frames: list[int]) -> np.ndarray:
    """The 68 landmarks in world coordinates [68,3]: back-projected at the posed template's depth in each
    of `frames` whose pose came from its own landmarks, median over those frames."""
    ids = [i for i in frames if track.used[i]] or list(frames)
    if not ids:
        raise InputError("no frames to lift the landmarks from (empty training split)")
    X = template()
    R, t = track.R[ids], track.t[ids]
    P = np.einsum("nij,kj->nki", R, X) + t[:, None, :]                    # camera coords of the template
    z = P[..., 2:3]
    cam = np.concatenate([(lms[ids] - [track.cx, track.cy]) / track.focal * z, z], axis=2)
    world = np.einsum("nji,nkj->nki", R, cam - t[:, None, :])             # R^T (x - t)
    return np.median(world, axis=0)


def make_points(track: HeadFit, lms: np.ndarray, frames: list[int], init: str, n_points: int,
                seed: int) -> np.ndarray:
    """Initial points [P,3] of one init kind (module docstring)."""
    if init == "landmarks":
        return lift_landmarks(track, lms, frames)
    if init == "random":
        lo, hi = head_box()
        return lo + np.random.default_rng(seed).random((n_points, 3)) * (hi - lo)
    raise InputError(f"init '{init}': without a face model choose one of {', '.join(INITS)} "
                     "(mesh needs the fitted face-model surface)")


# ----- view folder ---------------------------------------------------------------------------------------
def make_view(dataset_dir: str | os.PathLike, view_dir: str | os.PathLike) -> dict:
    """Link the dataset's face/ and split.json into the view folder (relative links); the manifest."""
    root, view = Path(dataset_dir), Path(view_dir)
    view.mkdir(parents=True, exist_ok=True)
    target_rel = os.path.relpath(root, view)
    for name in VIEW_LINKS:
        if not (root / name).exists():
            raise InputError(f"{root / name}: not found; run the face stage and split_dataset first")
        link = view / name
        if link.is_symlink() or link.exists():
            if not link.is_symlink():
                raise InputError(f"{link}: exists and is not a link; delete it and rerun")
            link.unlink()
        link.symlink_to(os.path.join(target_rel, name))
    return {"dataset_dir": str(root), "links": {n: os.path.join(target_rel, n) for n in VIEW_LINKS},
            "cameras": "landmarks", "model": MODEL_NAME}


def decisions(track: HeadFit, valid: np.ndarray, notices: Notices) -> None:
    """Notices of what the landmark cameras decided: a focal at the end of the grid, frames whose pose
    came from their neighbours although their landmarks were valid."""
    grid = track.focal_candidates
    if len(grid) > 1 and track.focal in (grid[0], grid[-1]):
        end = "longest" if track.focal == grid[-1] else "shortest"
        notices.warn("focal_at_grid_end", f"the landmark cameras' focal is the {end} of the search grid "
                     f"({track.focal:.0f} px at {track.size} px): the rigid template fits the landmarks best "
                     "there, so the true focal may lie beyond it; widen landmark_cameras.focal_min/focal_max "
                     "or give a known focal", focal_px=round(track.focal, 1))
    dropped = np.flatnonzero(valid & ~track.used)
    if len(dropped):
        notices.warn("frames_interpolated", f"{len(dropped)} frames with landmarks fit the rigid template "
                     f"badly and take their camera from their neighbours (e.g. {', '.join(map(str, dropped[:5]))})",
                     frames=int(len(dropped)))


# ----- CLI -----------------------------------------------------------------------------------------------
def _cmd_cameras(args: argparse.Namespace) -> None:
    from gtalker.fit.cameras import read_split, write_transforms

    lms, valid = load_landmarks(args.landmarks)
    meta = read_json(args.frames_json)
    if int(meta.get("n_frames", len(lms))) != len(lms):
        raise InputError(f"{args.landmarks}: {len(lms)} frames but {args.frames_json} says {meta['n_frames']}; "
                         "rerun the face stage")
    track = landmark_cameras(lms, valid, int(meta["size"]), from_args(args, RigidConfig), focal=args.focal)
    split = read_split(args.split, track.n_frames)
    notices = Notices("landmark_cameras", log)
    decisions(track, valid, notices)
    save_head_fit(args.out_track, track)
    write_transforms(track, split, args.out_train, args.out_val)
    notices.write(args.notices)
    print(f"{track.n_frames} frames, focal {track.focal:.1f} px, {int(track.used.sum())} fitted, reprojection "
          f"{np.nanmean(track.reproj_err):.2f} px (rigid landmarks) -> {args.out_track}", file=sys.stderr)


def _cmd_points(args: argparse.Namespace) -> None:
    from gtalker.fit.cameras import read_split
    from gtalker.fit.points import colour_points, write_ply

    track = load_head_fit(args.track)
    lms, _valid = load_landmarks(args.landmarks)
    split = read_split(args.split, track.n_frames)
    points = make_points(track, lms, split["train"], args.init, args.n_points, args.seed)
    write_ply(args.out, points, colour_points(points, None, track, args.frames_dir, split["train"]))
    print(f"{len(points)} points ({args.init}, no face model) in box {np.round(points.min(0), 3)} .. "
          f"{np.round(points.max(0), 3)} m -> {args.out}", file=sys.stderr)


def _cmd_view(args: argparse.Namespace) -> None:
    write_json(args.out, make_view(args.dataset_dir, args.view_dir))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m gtalker.fit.rigid", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("cameras", help="track.npz + transforms_*.json from the landmarks and the template")
    for name in ("--landmarks", "--frames-json", "--split", "--out-track", "--out-train", "--out-val"):
        p.add_argument(name, required=True)
    p.add_argument("--focal", type=float, default=None, help="fixed focal (px); skips the search")
    p.add_argument("--notices", default=None, help="results/D/notices/landmark_cameras.json")
    add_flags(p, RigidConfig)
    p.set_defaults(func=_cmd_cameras)
    p = sub.add_parser("points", help="initial point cloud (PLY) without a face model")
    for name in ("--track", "--landmarks", "--frames-dir", "--split", "--out"):
        p.add_argument(name, required=True)
    p.add_argument("--init", required=True, choices=INITS)
    p.add_argument("--n-points", type=int, required=True, help="points of the random cloud (fit.n_points)")
    p.add_argument("--seed", type=int, required=True, help="seed of the random cloud (fit.seed)")
    p.set_defaults(func=_cmd_points)
    p = sub.add_parser("view", help="link face/ and split.json into the view folder")
    for name in ("--dataset-dir", "--view-dir", "--out"):
        p.add_argument(name, required=True)
    p.set_defaults(func=_cmd_view)
    return ap


@reports_input_errors("gtalker.fit.rigid")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point; InputError -> logged, exit status 1."""
    args = build_parser().parse_args(argv)
    setup_logging("gtalker.fit.rigid")
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
