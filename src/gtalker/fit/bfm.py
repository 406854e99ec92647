"""Convert the Basel Face Model 2009 plus an expression basis into the common face-model format.

Files (all in one folder, `fit.bfm_dir`, default resources/face_models/bfm2009/):
- 01_MorphableModel.mat (Basel Face Model 2009; every user registers and downloads it from the
  University of Basel, https://faces.dmi.unibas.ch/bfm/): MATLAB v5 file with shapeMU [3V,1],
  shapePC [3V,K], shapeEV [K,1] (standard deviations), tl [F,3] (1-based triangles), texMU [3V,1];
  vertices interleaved x1 y1 z1 x2 ...; x = subject's left, y = up, z = out of the face.
- Exp_Pca.bin (the expression basis of Guo et al. used by 3DDFA and Deep3DFaceRecon): little-endian
  int32 E, then float32 mean [3Ve] (ignored, as Deep3DFaceRecon does), then float32 components
  [E, 3Ve] (component-major, each x1 y1 z1 x2 ...), in the same units as the shape model; Ve is found
  from the file size.
- std_exp.txt: E whitespace-separated standard deviations of the expression components.
- BFM_exp_idx.mat (needed when Ve < V): key 'trimIndex', the 1-based BFM vertex of each expression
  vertex (53,215 of BFM's 53,490). Vertices without expression data do not move with expression.
- landmarks_68.txt (optional): 68 0-based BFM vertex indices in iBUG 300-W order. Without it the
  indices are found by aligning the builtin template to the BFM mean (similarity ICP) and taking the
  nearest vertex to each template landmark: approximate (a few mm), so prefer a landmark file.
Units are detected from the mean face width (BFM 2009 stores micrometres) and converted to metres.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from scipy.spatial import cKDTree

from gtalker.common import InputError
from gtalker.fit.facemodel import FaceModel, validate

log = logging.getLogger("gtalker.fit")

MORPHABLE_MODEL = "01_MorphableModel.mat"
EXP_BASIS = "Exp_Pca.bin"
EXP_STD = "std_exp.txt"
EXP_INDEX = "BFM_exp_idx.mat"
LANDMARKS = "landmarks_68.txt"
REQUIRED = (MORPHABLE_MODEL, EXP_BASIS, EXP_STD)

WHERE = ("The Basel Face Model 2009 cannot be shipped: register with the University of Basel at "
         "https://faces.dmi.unibas.ch/bfm/ ('Basel Face Model 2009') and download 01_MorphableModel.mat; "
         "Exp_Pca.bin is the expression basis of Guo et al. distributed for 3DDFA / Deep3DFaceRecon "
         "('CoarseData'), std_exp.txt and BFM_exp_idx.mat come with Deep3DFaceRecon_pytorch's BFM folder. "
         "Put them in {dir}. Or set fit.model: builtin in config.yaml, which needs no download.")


def missing_files(bfm_dir: str | os.PathLike) -> list[Path]:
    """Required files that are absent from bfm_dir."""
    root = Path(bfm_dir)
    return [root / name for name in REQUIRED if not (root / name).exists()]


def check_files(bfm_dir: str | os.PathLike) -> None:
    """Raise InputError naming every missing file and where users obtain them."""
    missing = missing_files(bfm_dir)
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise InputError(f"fit.model: bfm2009 needs file(s) not found: {names}. " + WHERE.format(dir=bfm_dir))


def _mat(path: Path, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Load keys (and optional keys when present) from a MATLAB v5 file, naming the file on failure."""
    try:
        data = loadmat(str(path), variable_names=list(keys + optional))
    except NotImplementedError as err:
        raise InputError(f"{path}: MATLAB v7.3 (HDF5) files are not read; re-save it as v5 "
                         "(MATLAB: save(..., '-v7'))") from err
    except (ValueError, OSError) as err:
        raise InputError(f"{path}: not a readable .mat file ({err})") from err
    missing = [k for k in keys if k not in data]
    if missing:
        raise InputError(f"{path}: lacks variable(s) {missing} (expected the BFM 2009 layout)")
    return {k: np.asarray(data[k]) for k in keys + optional if k in data}


def read_morphable_model(path: Path) -> dict[str, np.ndarray]:
    """shapeMU [V,3], shapePC [K,V,3] scaled by shapeEV, tl [F,3] 0-based, texMU [V,3] (or empty)."""
    d = _mat(path, ("shapeMU", "shapePC", "shapeEV", "tl"), optional=("texMU",))
    mu = d["shapeMU"].astype(np.float64).reshape(-1)
    if mu.size % 3:
        raise InputError(f"{path}: shapeMU has {mu.size} values, not a multiple of 3")
    V = mu.size // 3
    pc = d["shapePC"].astype(np.float64)
    if pc.shape[0] != 3 * V:
        raise InputError(f"{path}: shapePC has {pc.shape[0]} rows, expected 3V = {3 * V}")
    ev = d["shapeEV"].astype(np.float64).reshape(-1)
    if ev.size != pc.shape[1]:
        raise InputError(f"{path}: shapeEV has {ev.size} values for {pc.shape[1]} components")
    tl = d["tl"].astype(np.int64).reshape(-1, 3) - 1
    if tl.min() < 0 or tl.max() >= V:
        raise InputError(f"{path}: tl holds indices outside 1..{V}")
    tex = d["texMU"].astype(np.float64).reshape(-1, 3) if "texMU" in d else np.zeros((0, 3))
    return {"mean": mu.reshape(V, 3), "basis": (pc * ev[None]).T.reshape(-1, V, 3), "tl": tl,
            "tex": tex if len(tex) == V else np.zeros((0, 3))}


def read_exp_basis(path: Path, std_path: Path) -> np.ndarray:
    """Expression components [E,Ve,3] scaled by their standard deviations (file units)."""
    raw = path.read_bytes()
    if len(raw) < 8:
        raise InputError(f"{path}: too short to be an Exp_Pca.bin expression basis")
    n_exp = int(np.frombuffer(raw[:4], "<i4")[0])
    n_floats = (len(raw) - 4) // 4
    if n_exp <= 0 or n_floats % (3 * (n_exp + 1)) or (len(raw) - 4) % 4:
        raise InputError(f"{path}: size {len(raw)} bytes does not match int32 E={n_exp} followed by float32 "
                         "mean[3Ve] and components[E,3Ve]")
    Ve = n_floats // (3 * (n_exp + 1))
    values = np.frombuffer(raw[4:], "<f4").astype(np.float64)
    pcs = values[3 * Ve:].reshape(n_exp, Ve, 3)
    try:
        std = np.loadtxt(std_path, dtype=np.float64).reshape(-1)
    except (ValueError, OSError) as err:
        raise InputError(f"{std_path}: cannot read the expression standard deviations ({err})") from err
    if std.size < n_exp:
        raise InputError(f"{std_path}: {std.size} values for {n_exp} expression components")
    return pcs * std[:n_exp, None, None]


def read_exp_index(path: Path, n_exp_vertices: int, n_vertices: int) -> np.ndarray:
    """0-based BFM vertex of each expression vertex from BFM_exp_idx.mat ('trimIndex', 1-based)."""
    if not path.exists():
        raise InputError(f"{path}: not found; the expression basis has {n_exp_vertices} vertices and the shape "
                         f"model {n_vertices}, so the vertex map BFM_exp_idx.mat is needed. "
                         + WHERE.format(dir=path.parent))
    idx = _mat(path, ("trimIndex",))["trimIndex"].astype(np.int64).reshape(-1) - 1
    if len(idx) != n_exp_vertices or idx.min() < 0 or idx.max() >= n_vertices:
        raise InputError(f"{path}: trimIndex must hold {n_exp_vertices} indices in 1..{n_vertices}")
    return idx


def unit_to_metres(mean: np.ndarray) -> float:
    """Metres per file unit: the power of ten that makes the face about 0.16 m wide."""
    width = float(np.percentile(mean[:, 0], 99) - np.percentile(mean[:, 0], 1))
    if width <= 0:
        raise InputError("face model mean shape has zero width")
    return float(10.0 ** np.round(np.log10(0.16 / width)))


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R, t with dst ~ s R src + t (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (a ** 2).sum(1).mean())
    return s, R, mu_d - s * R @ mu_s


def auto_landmarks(vertices: np.ndarray, template: FaceModel, iterations: int = 40) -> np.ndarray:
    """68 vertex indices of `vertices` (metres, BFM frame) nearest to the template's landmarks after a
    similarity ICP of the template's face onto them (starting from aligned nose tips)."""
    tmpl = template.mean
    lm = tmpl[template.lmk_idx]
    surf = tmpl[np.unique(template.triangles)] if template.triangles.size else tmpl
    nose = lm[30]
    face = surf[(np.linalg.norm(surf - nose, axis=1) < 0.11) & (surf[:, 2] > nose[2] - 0.08)]
    tree = cKDTree(vertices)
    s, R, t = 1.0, np.eye(3), vertices[np.argmax(vertices[:, 2])] - nose
    for _ in range(iterations):
        moved = s * face @ R.T + t
        dist, nn = tree.query(moved)
        keep = dist < 3 * np.median(dist) + 1e-9
        s, R, t = _similarity(face[keep], vertices[nn[keep]])
    dist, idx = tree.query(s * lm @ R.T + t)
    log.info("automatic BFM landmarks: template fitted with scale %.3f, landmark-to-vertex distance "
             "mean %.1f mm, max %.1f mm", s, 1000 * dist.mean(), 1000 * dist.max())
    return idx.astype(np.int64)


def read_landmark_file(path: Path, n_vertices: int) -> np.ndarray:
    """68 0-based vertex indices from a text or .npy file."""
    try:
        idx = np.load(path) if path.suffix == ".npy" else np.loadtxt(path)
    except (ValueError, OSError) as err:
        raise InputError(f"{path}: cannot read 68 vertex indices ({err})") from err
    idx = np.asarray(idx).reshape(-1).astype(np.int64)
    if idx.shape != (68,) or idx.min() < 0 or idx.max() >= n_vertices:
        raise InputError(f"{path}: needs 68 0-based vertex indices in 0..{n_vertices - 1}")
    return idx


def convert_bfm2009(bfm_dir: str | os.PathLike, template: FaceModel, n_identity: int = 100,
                    n_expression: int = 79) -> FaceModel:
    """Read the BFM 2009 files in bfm_dir (module docstring) into the common format (metres)."""
    root = Path(bfm_dir)
    check_files(root)
    shape = read_morphable_model(root / MORPHABLE_MODEL)
    V = len(shape["mean"])
    exp = read_exp_basis(root / EXP_BASIS, root / EXP_STD)
    if exp.shape[1] != V:
        if exp.shape[1] > V:
            raise InputError(f"{root / EXP_BASIS}: {exp.shape[1]} vertices, more than the shape model's {V}")
        idx = read_exp_index(root / EXP_INDEX, exp.shape[1], V)
        full = np.zeros((exp.shape[0], V, 3))
        full[:, idx] = exp
        exp = full
    unit = unit_to_metres(shape["mean"])
    log.info("BFM: %d vertices, %d identity and %d expression components available; units %.0e m",
             V, len(shape["basis"]), len(exp), unit)
    mean = shape["mean"] * unit
    lm_file = root / LANDMARKS
    lmk_idx = read_landmark_file(lm_file, V) if lm_file.exists() else auto_landmarks(mean, template)
    tex = shape["tex"]
    model = FaceModel(
        name="bfm2009",
        mean=mean,
        id_basis=shape["basis"][:n_identity] * unit,
        exp_basis=exp[:n_expression] * unit,
        lmk_idx=lmk_idx,
        triangles=shape["tl"],
        colors=np.clip(np.round(tex), 0, 255).astype(np.uint8) if len(tex) else np.zeros((0, 3), np.uint8),
        id_names=[f"id{i}" for i in range(min(n_identity, len(shape["basis"])))],
        exp_names=[f"exp{i}" for i in range(min(n_expression, len(exp)))],
    )
    validate(model, str(root))
    return model
