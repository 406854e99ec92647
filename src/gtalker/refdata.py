"""Export to, and import from, the reference's dataset folder layout (AD-NeRF / ER-NeRF / GaussianTalker).

Reference layout (one folder per video):
    ori_imgs/0.jpg, 0.lms ...   frames and their 68 landmarks (text, one "x y" line per point)
    parsing/0.png ...           colour-coded parsing as those projects write it with OpenCV: in the file's
                                B,G,R order head = (255,0,0), neck = (0,255,0), torso = (0,0,255),
                                background = (255,255,255)
    torso_imgs/0.png ...        RGBA torso + neck
    gt_imgs/0.jpg ...           frame with the background replaced by bc.jpg
    bc.jpg                      static background
    aud.wav                     16 kHz audio; aud_train.wav / aud_novel.wav: the audio under the training /
                                validation frames (GaussianTalker's render script muxes them)
    aud_ds.npy / aud_hu.npy / aud_mel.npy   audio features: [N,16,29] DeepSpeech windows (the only file
                                GaussianTalker reads); [N,2,1024] HuBERT steps of each frame (ER-NeRF's);
                                [N,16,C] log-mel (this pipeline only)
    au.csv                      OpenFace-style table; the trainers read its " AU45_r" column
    transforms_train.json, transforms_val.json   (only when the fit stage has produced them)
    track_params.pt             the tracker's euler, trans, focal, id, exp, vertices (gtalker.refcams)

Cameras: our transforms are camera-to-world in the OpenCV convention (x right, y down, z forward); the
reference's are OpenGL-style (y up, z backward): c2w_gl = c2w_cv @ diag(1, -1, -1, 1) (world unchanged,
in metres), with cx = w/2, cy = h/2 (the trainers take the image size as 2 cx x 2 cy). Import does the
inverse and takes the principal point as ours, (w-1)/2, keeping the matrices.

Import (also the dataset source `datasets: {name: {reference: folder}}`) writes every file the later
stages read: frames, landmarks, parsing, torso, torso_bg, gt, bc.jpg, lips, blinks, audio, the features
present, split.json (from the transforms' img_ids), fit/track.npz and transforms (from transforms_*.json,
else track_params.pt) and fit/points_{mesh,random,landmarks}.ply (track_params.pt's mean vertices; the
68 landmarks triangulated with the cameras).

CLI:
    python -m gtalker.refdata export --results results/demo --out results/demo/reference \
        --features results/demo/audio/features_mel.npy --features-backend mel
    python -m gtalker.refdata import --src path/to/reference_folder --out results/mydata [--fps 25]
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gtalker.common import (FPS_DEFAULT, InputError, atomic_path, read_json, reports_input_errors, setup_logging,
                            write_json)
from gtalker.face.split import SplitConfig
from gtalker.face.writer import PNG_FAST, ImageWriter
from gtalker.notices import Notices

log = logging.getLogger("gtalker.refdata")

# label -> colour in the file's B, G, R channel order (0 bg, 1 head, 2 neck, 3 torso)
PARSING_BGR = np.array([[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
FEATURE_NAMES = {"deepspeech": "aud_ds.npy", "hubert": "aud_hu.npy", "mel": "aud_mel.npy",
                 "melnorm": "aud_melnorm.npy"}
GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def labels_to_colour(labels: np.ndarray) -> np.ndarray:
    """4-class label map -> the reference's colour-coded parsing image (B, G, R order)."""
    if labels.max(initial=0) > 3:
        raise InputError("parsing labels above 3 cannot be written in the reference's colour code")
    return PARSING_BGR[labels]


def colour_to_labels(bgr: np.ndarray) -> tuple[np.ndarray, int]:
    """Reference parsing image (B, G, R) -> 4-class labels; also the count of pixels of no known colour
    (they become background)."""
    labels = np.zeros(bgr.shape[:2], np.uint8)
    matched = np.zeros(bgr.shape[:2], bool)
    for label, colour in enumerate(PARSING_BGR):
        hit = np.all(bgr == colour, axis=2)
        labels[hit] = label
        matched |= hit
    return labels, int((~matched).sum())


def convert_transforms(data: dict, to_gl: bool) -> dict:
    """transforms dict with every transform_matrix converted OpenCV -> OpenGL (or back)."""
    out = {k: v for k, v in data.items() if k != "frames"}
    flip = GL_FROM_CV
    frames = []
    for fr in data.get("frames", []):
        m = np.asarray(fr["transform_matrix"], np.float64)
        frames.append({**fr, "transform_matrix": (m @ flip).tolist()})
    out["frames"] = frames
    if to_gl:
        out.pop("camera_convention", None)
    else:
        out["camera_convention"] = "opencv"
    return out


def write_lms(path: Path, pts: np.ndarray) -> None:
    """68 landmarks as text lines 'x y'."""
    np.savetxt(path, np.asarray(pts, np.float64), fmt="%f")


def read_lms(path: Path) -> np.ndarray:
    """Landmarks from a .lms text file."""
    try:
        pts = np.loadtxt(path, dtype=np.float64).reshape(-1, 2)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a landmarks text file ({err})") from err
    if pts.shape != (68, 2):
        raise InputError(f"{path}: {len(pts)} landmarks, expected 68")
    return pts


def write_openface_au(path: Path, blinks: np.ndarray, fps: float) -> None:
    """OpenFace-style au.csv (1-based frames; AU45_r = 2 x blink, so clip(AU, 0, 2) / 2 = blink)."""
    lines = ["frame, timestamp, confidence, success, AU45_r"]
    lines += [f"{i + 1}, {i / fps:.3f}, 0.98, 1, {2.0 * b:.4f}" for i, b in enumerate(blinks)]
    path.write_text("\n".join(lines) + "\n")


def read_au45(path: Path) -> np.ndarray:
    """AU45_r column of an au.csv (OpenFace style with spaces, or ours)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise InputError(f"{path}: empty")
    header = [h.strip() for h in rows[0]]
    if "AU45_r" not in header:
        raise InputError(f"{path}: no AU45_r column (columns: {header[:8]})")
    col = header.index("AU45_r")
    return np.array([float(r[col]) for r in rows[1:] if r], np.float64)


FEATURE_CHANNELS = {"aud_ds.npy": 29, "aud_hu.npy": 1024}  # what the reference networks take


def write_track_params(path: Path, track_path: Path, model_path: Path | None, n_points: int = 10000,
                       seed: int = 0) -> None:
    """track_params.pt in the reference tracker's convention (gtalker.refcams): euler [N,3], trans [N,3],
    focal [1], id [1,I], exp [N,E] (float32 tensors) and vertices [1,V,3]: the points of our
    fit/points_mesh.ply (the fitted face-model surface, identity + mean expression, densified to n_points
    with the same seed) in tracker units; the trainers take its mean over dim 0 (or its first row) as the
    initial Gaussians."""
    import torch

    from gtalker.fit.facemodel import load as load_model
    from gtalker.fit.points import make_points
    from gtalker.fit.tracker import load_head_fit as load_fit
    from gtalker.refcams import TRANSFORMS_SCALE, to_tracker

    track = load_fit(track_path)
    euler, trans = to_tracker(track.R, track.t)
    if model_path is not None:
        verts = make_points(load_model(model_path), track, "mesh", n_points, seed)[0] * TRANSFORMS_SCALE
    else:
        verts = np.zeros((0, 3))
        log.warning("no face model given (--model): track_params.pt has no vertices; GaussianTalker seeds "
                    "its Gaussians with them")
    params = {
        "euler": torch.from_numpy(euler.astype(np.float32)),
        "trans": torch.from_numpy(trans.astype(np.float32)),
        "focal": torch.tensor([float(track.focal)], dtype=torch.float32),
        "id": torch.from_numpy(np.asarray(track.identity, np.float32).reshape(1, -1)),
        "exp": torch.from_numpy(np.asarray(track.expression, np.float32).reshape(track.n_frames, -1)),
        "vertices": torch.from_numpy(verts.astype(np.float32)[None]),
    }
    torch.save(params, path)


def reference_transforms(data: dict) -> dict:
    """Our transforms dict -> the reference's: OpenGL-style c2w, cx = w/2, cy = h/2 (as the trainers take
    the image size from 2 cx x 2 cy), w and h kept."""
    if data.get("camera_convention", "opencv") == "opencv":
        data = convert_transforms(data, to_gl=True)
    w, h = int(data["w"]), int(data["h"])
    return {**data, "cx": w / 2.0, "cy": h / 2.0, "w": w, "h": h}


def write_split_audio(tmp: Path, samples: np.ndarray, split: dict, fps: float) -> None:
    """aud_train.wav / aud_novel.wav: the audio under the training / validation frames (GaussianTalker's
    render script muxes them into its train / test videos)."""
    from gtalker.common import SAMPLE_RATE
    from gtalker.io.audio import write_wav

    for name, part in (("aud_train.wav", "train"), ("aud_novel.wav", "val")):
        ids = split.get(part) or []
        if not ids:
            continue
        a, b = (int(round(i * SAMPLE_RATE / fps)) for i in (min(ids), max(ids) + 1))
        write_wav(tmp / name, samples[a:b])


def export_reference(results: str, out: str, features: str | None = None, features_backend: str = "mel",
                     with_transforms: bool = True, model: str | None = None, n_points: int = 10000,
                     seed: int = 0) -> dict:
    """Write the reference layout from this pipeline's outputs under `results` (= results/<dataset>)."""
    from gtalker.face.landmarks import load_landmark_track
    from gtalker.io.audio import read_wav
    from gtalker.io.frames import frame_path, frame_paths, read_image

    root = Path(results)
    meta = read_json(root / "ingest" / "frames.json")
    fps = float(meta.get("fps", FPS_DEFAULT))
    frames = frame_paths(root / "ingest" / "frames")
    track = load_landmark_track(str(root / "face" / "landmarks.npz"))
    n = len(frames)
    if len(track.lms) != n:
        raise InputError(f"{root}/face/landmarks.npz has {len(track.lms)} frames, the frame folder {n}")
    blinks = np.load(root / "face" / "blinks.npy")
    summary = {"frames": n, "features": None, "transforms": False, "track_params": False}
    with atomic_path(out, is_dir=True) as tmp, ImageWriter() as writer:
        for sub in ("ori_imgs", "parsing", "torso_imgs", "gt_imgs"):
            (tmp / sub).mkdir()
        for p in tqdm(frames, desc="export", file=sys.stderr, mininterval=2.0):
            i = int(p.stem)
            shutil.copyfile(p, tmp / "ori_imgs" / f"{i}.jpg")
            write_lms(tmp / "ori_imgs" / f"{i}.lms", track.lms[i])
            labels = read_image(frame_path(root / "face" / "parsing", i, ".png"), cv2.IMREAD_GRAYSCALE)
            writer.put(tmp / "parsing" / f"{i}.png", labels_to_colour(labels), bgr=True)
            shutil.copyfile(frame_path(root / "face" / "torso", i, ".png"), tmp / "torso_imgs" / f"{i}.png")
            shutil.copyfile(frame_path(root / "face" / "gt", i, ".jpg"), tmp / "gt_imgs" / f"{i}.jpg")
        shutil.copyfile(root / "face" / "bc.jpg", tmp / "bc.jpg")
        split = read_json(root / "split.json") if (root / "split.json").exists() else {}
        if (root / "ingest" / "audio.wav").exists():
            shutil.copyfile(root / "ingest" / "audio.wav", tmp / "aud.wav")
            write_split_audio(tmp, read_wav(root / "ingest" / "audio.wav")[0], split, fps)
        write_openface_au(tmp / "au.csv", blinks, fps)
        if features:
            feats = np.load(features)
            if len(feats) != n:
                raise InputError(f"{features}: {len(feats)} frames of features, {n} video frames")
            name = FEATURE_NAMES.get(features_backend, f"aud_{features_backend}.npy")
            if name == "aud_hu.npy":  # ER-NeRF's layout: the two 50 Hz steps of each frame
                from gtalker.audio.windowing import steps_from_windows

                feats = steps_from_windows(feats, fps)
            np.save(tmp / name, feats.astype(np.float32))
            summary["features"] = name
            want = FEATURE_CHANNELS.get(name)
            if want is None:
                log.warning("audio features: the %s backend's %s is for this pipeline only; the reference "
                            "trainers read aud_ds.npy (DeepSpeech, 29 channels; GaussianTalker and ER-NeRF) or "
                            "aud_hu.npy (HuBERT, 1024 channels; ER-NeRF): choose audio_features.backend: "
                            "deepspeech for a folder they can train on", features_backend, name)
            elif feats.shape[-1] != want:
                log.warning("audio features: %s has %d channels; the reference networks take %d",
                            name, feats.shape[-1], want)
        fit = root / "fit"
        if with_transforms and (fit / "transforms_train.json").exists():
            for part in ("train", "val"):
                src = fit / f"transforms_{part}.json"
                if src.exists():
                    write_json(tmp / f"transforms_{part}.json", reference_transforms(read_json(src)))
            summary["transforms"] = True
        else:
            log.info("no fit outputs (%s/transforms_*.json): the export has no transforms_*.json yet", fit)
        if with_transforms and (fit / "track.npz").exists():
            write_track_params(tmp / "track_params.pt", fit / "track.npz", Path(model) if model else None,
                               n_points, seed)
            summary["track_params"] = True
    return summary


def reference_frames(ref: Path) -> int:
    """Number of frames of a reference folder (ori_imgs/0.jpg .. N-1.jpg, no gaps)."""
    ori = ref / "ori_imgs"
    if not ori.is_dir():
        raise InputError(f"{ref}: no ori_imgs/ folder; not a reference-layout dataset")
    ids = sorted(int(p.stem) for p in ori.glob("*.jpg") if p.stem.isdigit())
    if not ids or ids != list(range(len(ids))):
        raise InputError(f"{ori}: frames must be numbered 0.jpg .. N-1.jpg without gaps")
    return len(ids)


def missing_reference_files(src: str | Path) -> list[str]:
    """What a reference folder lacks to train from it (empty when complete): per-frame landmarks, parsing
    and torso images, bc.jpg, au.csv, aud.wav and the cameras (transforms_train/val.json or track_params.pt)."""
    ref = Path(src)
    if not ref.is_dir():
        return [f"{ref}: folder not found"]
    try:
        n = reference_frames(ref)
    except InputError as err:
        return [str(err)]
    missing = []
    for sub, ext in (("ori_imgs", ".lms"), ("parsing", ".png"), ("torso_imgs", ".png")):
        lack = [i for i in range(n) if not (ref / sub / f"{i}{ext}").exists()]
        if lack:
            missing.append(f"{ref}/{sub}/: {len(lack)} of {n} frames lack their {ext} file "
                           f"(first: {sub}/{lack[0]}{ext})")
    for name in ("bc.jpg", "au.csv", "aud.wav"):
        if not (ref / name).exists():
            missing.append(f"{ref}/{name}: not found")
    has_transforms = all((ref / f"transforms_{p}.json").exists() for p in ("train", "val"))
    if not has_transforms and not (ref / "track_params.pt").exists():
        missing.append(f"{ref}: no cameras: neither transforms_train.json + transforms_val.json nor "
                       "track_params.pt")
    return missing


def load_track_params(path: Path) -> dict:
    """track_params.pt as a dict of tensors (loaded without unpickling code)."""
    import torch

    try:
        params = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for foreign or damaged files
        raise InputError(f"{path}: not a loadable track_params.pt ({err})") from err
    if not isinstance(params, dict):
        raise InputError(f"{path}: holds a {type(params).__name__}, expected a dict of tensors")
    return params


def reference_cameras(ref: Path, n: int, train_fraction: float, notices: Notices | None = None
                      ) -> tuple[float, np.ndarray, np.ndarray, dict[str, list[int]]]:
    """(focal, R [n,3,3], t [n,3], split) in our convention from transforms_*.json (preferred) or
    track_params.pt; frames without a camera take the nearest frame's (logged)."""
    from gtalker.face.split import split_frames
    from gtalker.refcams import from_tracker

    R = np.full((n, 3, 3), np.nan)
    t = np.full((n, 3), np.nan)
    if all((ref / f"transforms_{p}.json").exists() for p in ("train", "val")):
        split, focal = {}, None
        for part in ("train", "val"):
            data = convert_transforms(read_json(ref / f"transforms_{part}.json"), to_gl=False)
            focal = float(data["focal_len"]) if focal is None else focal
            split[part] = []
            for fr in data["frames"]:
                i = int(fr["img_id"])
                if not 0 <= i < n:
                    raise InputError(f"{ref}/transforms_{part}.json: img_id {i} outside the {n} frames of ori_imgs/")
                c2w = np.asarray(fr["transform_matrix"], np.float64)
                R[i] = c2w[:3, :3].T
                t[i] = -R[i] @ c2w[:3, 3]
                split[part].append(i)
        if not split["train"]:
            raise InputError(f"{ref}/transforms_train.json: no frames")
    else:
        params = load_track_params(ref / "track_params.pt")
        lack = [k for k in ("euler", "trans", "focal") if k not in params]
        if lack:
            raise InputError(f"{ref}/track_params.pt: lacks {lack} (expected the reference tracker's keys "
                             "euler, trans, focal, id, exp, vertices)")
        euler, trans = (np.asarray(params[k], np.float64).reshape(-1, 3) for k in ("euler", "trans"))
        focal = float(np.asarray(params["focal"]).reshape(-1)[0])
        m = min(n, len(euler))
        R[:m], t[:m] = from_tracker(euler[:m], trans[:m])
        split = split_frames(n, train_fraction)
    known = np.isfinite(t).all(axis=1)
    if not known.all():
        idx = np.flatnonzero(known)
        nearest = idx[np.abs(np.arange(n)[:, None] - idx[None]).argmin(axis=1)]
        (notices or Notices("import_reference", log)).warn(
            "reference_camera_filled", f"{ref}: {(~known).sum()} of {n} frames have no camera; they take the "
            "nearest frame's", frames=int((~known).sum()))
        R, t = R[nearest], t[nearest]
    return focal, R, t, split


def triangulate_landmarks(lms: np.ndarray, focal: float, c: float, R: np.ndarray, t: np.ndarray,
                          frames: list[int]) -> np.ndarray:
    """World points [68,3] whose projections best fit the landmarks over `frames` (linear least squares:
    ((u - c) r3 - f r1) . X = f t1 - (u - c) t3, and the same for v)."""
    ids = np.asarray(frames)
    Ri, ti, uv = R[ids], t[ids], np.asarray(lms, np.float64)[ids] - c
    pts = np.zeros((lms.shape[1], 3))
    for j in range(lms.shape[1]):
        rows = []
        rhs = []
        for axis in (0, 1):
            d = uv[:, j, axis][:, None]
            rows.append(d * Ri[:, 2] - focal * Ri[:, axis])
            rhs.append(focal * ti[:, axis] - d[:, 0] * ti[:, 2])
        pts[j] = np.linalg.lstsq(np.concatenate(rows), np.concatenate(rhs), rcond=None)[0]
    return pts


def reprojection_rmse(points: np.ndarray, lms: np.ndarray, focal: float, c: float, R: np.ndarray,
                      t: np.ndarray) -> np.ndarray:
    """Per-frame RMSE (px) of the projected points against the landmarks."""
    q = np.einsum("nij,pj->npi", R, points) + t[:, None]
    uv = focal * q[..., :2] / q[..., 2:3] + c
    return np.sqrt(((uv - lms) ** 2).sum(-1).mean(-1))


def reference_vertices(ref: Path) -> np.ndarray | None:
    """Mean face-model vertices [V,3] of track_params.pt in our world units, when it has them."""
    path = ref / "track_params.pt"
    if not path.exists():
        return None
    from gtalker.refcams import TRANSFORMS_SCALE

    verts = load_track_params(path).get("vertices")
    if verts is None:
        return None
    v = np.asarray(verts, np.float64)
    v = v.reshape(-1, v.shape[-2], 3).mean(axis=0) if v.ndim == 3 else v.reshape(-1, 3)
    return v / TRANSFORMS_SCALE if len(v) else None


def write_reference_points(root: Path, ref: Path, track, lms: np.ndarray, train: list[int], n_points: int,
                           seed: int, notices: Notices | None = None) -> dict[str, int]:
    """fit/points_{mesh,random,landmarks}.ply for an imported folder: mesh = the mean vertices of
    track_params.pt (else the triangulated landmarks), random = uniform in their box, landmarks = the 68
    landmarks triangulated from the .lms with the cameras; coloured from the training frames."""
    from gtalker.fit.points import colour_points, write_ply

    lmk = triangulate_landmarks(lms, track.focal, track.cx, track.R, track.t, train)
    mesh = reference_vertices(ref)
    if mesh is None:
        (notices or Notices("import_reference", log)).warn(
            "reference_no_vertices", f"{ref}: no track_params.pt vertices; the Gaussians start from the 68 "
            "landmarks triangulated with the cameras (points_mesh.ply), a sparse start")
        mesh = lmk
    lo, hi = mesh.min(axis=0), mesh.max(axis=0)
    rand = lo + np.random.default_rng(seed).random((n_points, 3)) * (hi - lo)
    frames_dir = root / "ingest" / "frames"
    counts = {}
    for name, pts in (("mesh", mesh), ("random", rand), ("landmarks", lmk)):
        write_ply(root / "fit" / f"points_{name}.ply", pts, colour_points(pts, None, track, frames_dir, train))
        counts[name] = len(pts)
    return counts


def import_reference(src: str, out: str, fps: float = FPS_DEFAULT,
                     train_fraction: float = SplitConfig.train_fraction,
                     n_points: int = 20000, seed: int = 0, with_features: bool = True,
                     notices: Notices | None = None) -> dict:
    """Build this pipeline's ingest/, face/, audio/ and fit/ files and split.json under `out` from a
    reference-layout folder (nothing of our preprocessing or tracking runs)."""
    from gtalker.face.blinks import write_au_csv
    from gtalker.face.landmarks import LandmarkTrack, save_landmark_track
    from gtalker.face.lips import lip_boxes
    from gtalker.face.torso import composite, training_target
    from gtalker.fit.cameras import write_transforms
    from gtalker.fit.tracker import HeadFit
    from gtalker.fit.tracker import save_head_fit
    from gtalker.io.audio import load_audio, write_wav
    from gtalker.io.frames import frame_path, read_image, write_image

    notices = notices or Notices("import_reference", log)
    ref = Path(src)
    missing = missing_reference_files(ref)
    if missing:
        raise InputError("reference folder incomplete:\n  " + "\n  ".join(missing))
    n = reference_frames(ref)
    ori = ref / "ori_imgs"
    root = Path(out)
    first = read_image(ori / "0.jpg")
    h, w = first.shape[:2]
    if h != w:
        raise InputError(f"{ori}/0.jpg: {w}x{h}; this pipeline expects square frames")
    bc = read_image(ref / "bc.jpg")
    if bc.shape[:2] != (h, w):
        raise InputError(f"{ref}/bc.jpg: {bc.shape[1]}x{bc.shape[0]}, the frames are {w}x{h}")
    lms = np.zeros((n, 68, 2), np.float32)
    unknown_colours = 0
    dirs = {k: root / p for k, p in {"frames": "ingest/frames", "parsing": "face/parsing", "torso": "face/torso",
                                     "gt": "face/gt", "torso_bg": "face/torso_bg"}.items()}
    with atomic_path(dirs["frames"], is_dir=True) as t_frames, \
            atomic_path(dirs["parsing"], is_dir=True) as t_parsing, \
            atomic_path(dirs["torso"], is_dir=True) as t_torso, \
            atomic_path(dirs["gt"], is_dir=True) as t_gt, \
            atomic_path(dirs["torso_bg"], is_dir=True) as t_tbg:
        for i in tqdm(range(n), desc="import", file=sys.stderr, mininterval=2.0):
            shutil.copyfile(ori / f"{i}.jpg", frame_path(t_frames, i, ".jpg"))
            lms[i] = read_lms(ori / f"{i}.lms")
            seg = cv2.imread(str(ref / "parsing" / f"{i}.png"), cv2.IMREAD_COLOR)
            if seg is None or seg.shape[:2] != (h, w):
                raise InputError(f"{ref}/parsing/{i}.png: unreadable or not {w}x{h}")
            labels, bad = colour_to_labels(seg)
            unknown_colours += bad
            cv2.imwrite(str(frame_path(t_parsing, i, ".png")), labels, PNG_FAST)
            rgba = read_image(ref / "torso_imgs" / f"{i}.png", cv2.IMREAD_UNCHANGED)
            if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.shape[:2] != (h, w):
                raise InputError(f"{ref}/torso_imgs/{i}.png: not a {w}x{h} RGBA image")
            shutil.copyfile(ref / "torso_imgs" / f"{i}.png", frame_path(t_torso, i, ".png"))
            tb = composite(rgba, bc)
            write_image(frame_path(t_tbg, i, ".jpg"), tb)
            gt_src = ref / "gt_imgs" / f"{i}.jpg"
            if gt_src.exists():  # the reference's own target (frame with the background replaced)
                shutil.copyfile(gt_src, frame_path(t_gt, i, ".jpg"))
            else:
                write_image(frame_path(t_gt, i, ".jpg"), training_target(read_image(ori / f"{i}.jpg"), labels, tb))
    if unknown_colours:
        notices.warn("reference_parsing_colours", f"{ref}/parsing: {unknown_colours} pixels have none of the "
                     "layout's colours (head, neck, torso, background); they were taken as background",
                     pixels=unknown_colours)
    write_json(root / "ingest" / "frames.json", {"n_frames": n, "fps": fps, "size": h, "source": str(ref)})
    save_landmark_track(str(root / "face" / "landmarks.npz"),
                        LandmarkTrack(lms=lms, valid=np.ones(n, bool), interpolated=np.zeros(n, bool), score=np.ones(n, np.float32)))
    with atomic_path(root / "face" / "lips.npy") as tmp:
        np.save(tmp, lip_boxes(lms, h, w))
    with atomic_path(root / "face" / "bc.jpg") as tmp:
        shutil.copyfile(ref / "bc.jpg", tmp)
    au = read_au45(ref / "au.csv")
    if len(au) < n:
        raise InputError(f"{ref}/au.csv: {len(au)} rows for {n} frames")
    blinks = (np.clip(au[:n], 0, 2) / 2).astype(np.float32)
    with atomic_path(root / "face" / "blinks.npy") as tmp:
        np.save(tmp, blinks)
    write_au_csv(str(root / "face" / "au.csv"), blinks)
    samples = load_audio(ref / "aud.wav")
    expected = int(round(n * 16000 / fps))
    if abs(len(samples) - expected) > 16000 / fps:
        notices.warn("reference_audio_length", f"{ref}/aud.wav: {len(samples) / 16000:.3f} s for {n} frames at "
                     f"{fps:g} fps ({expected / 16000:.3f} s); padded with silence or cut to fit",
                     seconds=round(len(samples) / 16000, 3))
    write_wav(root / "ingest" / "audio.wav", np.pad(samples, (0, max(0, expected - len(samples))))[:expected])
    features = []
    for backend, name in FEATURE_NAMES.items():
        if with_features and (ref / name).exists():
            feats = np.load(ref / name)
            if name == "aud_hu.npy" and feats.ndim == 3 and feats.shape[1] != 16:
                from gtalker.audio.windowing import windows_from_steps

                feats = windows_from_steps(feats, fps)
            if feats.ndim != 3 or len(feats) < n:
                raise InputError(f"{ref}/{name}: shape {feats.shape}; expected [{n}, 16, C]")
            with atomic_path(root / "audio" / f"features_{backend}.npy") as tmp:
                np.save(tmp, feats[:n].astype(np.float32))
            features.append(backend)
    focal, R, t, split = reference_cameras(ref, n, train_fraction, notices)
    write_json(root / "split.json", split)
    c = (h - 1) / 2.0
    track = HeadFit(focal=focal, cx=c, cy=c, size=h, R=R, t=t, expression=np.zeros((n, 0)),
                     identity=np.zeros(0), reproj_err=np.zeros(n), used=np.ones(n, bool), model="reference")
    points = write_reference_points(root, ref, track, lms, split["train"], n_points, seed, notices)
    lmk = triangulate_landmarks(lms, focal, c, R, t, split["train"])
    track.reproj_err = reprojection_rmse(lmk, lms, focal, c, R, t)
    save_head_fit(root / "fit" / "track.npz", track)
    write_transforms(track, split, root / "fit" / "transforms_train.json", root / "fit" / "transforms_val.json")
    log.info("cameras: focal %.1f px, median landmark reprojection %.2f px (68 points triangulated from the "
             ".lms with these cameras), camera distance %.3f (world units of the folder)", focal,
             float(np.median(track.reproj_err)), float(np.median(np.linalg.norm(t, axis=1))))
    return {"frames": n, "features": features, "split": {k: len(v) for k, v in split.items()}, "points": points,
            "reproj_px": round(float(np.median(track.reproj_err)), 3)}


@reports_input_errors("gtalker.refdata")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="results/<dataset> -> reference layout")
    e.add_argument("--results", required=True, help="results/<dataset>")
    e.add_argument("--out", required=True)
    e.add_argument("--features", default=None, help="audio features .npy to include")
    e.add_argument("--features-backend", default="mel", help="mel | melnorm | deepspeech | hubert (names the file)")
    e.add_argument("--no-transforms", action="store_true", help="leave out the cameras (transforms, track_params)")
    e.add_argument("--model", default=None, help="the fit's face model .npz (vertices of track_params.pt)")
    e.add_argument("--n-points", type=int, default=10000, help="fit.n_points (the mesh points' density)")
    e.add_argument("--seed", type=int, default=0, help="fit.seed (of the mesh points' sampling)")
    i = sub.add_parser("import", help="reference layout -> results/<dataset>")
    i.add_argument("--src", required=True)
    i.add_argument("--out", required=True, help="results/<dataset>")
    i.add_argument("--fps", type=float, default=FPS_DEFAULT)
    i.add_argument("--train-fraction", type=float, default=SplitConfig.train_fraction,
                   help="split when the folder has only track_params.pt (transforms_*.json give their own)")
    i.add_argument("--n-points", type=int, default=20000, help="points of fit/points_random.ply")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--no-features", action="store_true", help="leave the folder's audio features out")
    i.add_argument("--notices", default=None, help="write what the import decided about the folder here")
    args = ap.parse_args(argv)
    setup_logging("gtalker.refdata")
    if args.cmd == "export":
        summary = export_reference(args.results, args.out, args.features, args.features_backend,
                                   not args.no_transforms, args.model, args.n_points, args.seed)
    else:
        notices = Notices("import_reference", log)
        summary = import_reference(args.src, args.out, args.fps, args.train_fraction, args.n_points, args.seed,
                                   not args.no_features, notices)
        notices.write(args.notices)
    log.info("%s: %s", args.cmd, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
