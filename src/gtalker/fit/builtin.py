"""The builtin face model: a generic 3D head made here from anatomical numbers, needing no outside data.

How it is made (deterministic, no randomness; `python -m gtalker.fit builtin --out FILE` rebuilds it):

1. 68 landmark positions (iBUG 300-W order) in millimetres, written by hand for an average adult from
   published anthropometric facts: inner eye corners 32 mm apart, outer corners 90 mm, eye fissure
   29 mm; nose tip ~35 mm in front of the inner eye corners and 42 mm below them; nose width 28-35 mm;
   mouth width 50 mm with the lip line ~70 mm below the eyes; nasion-menton face height ~120 mm;
   bizygomatic width ~140 mm, jaw contour narrowing to the chin. The jaw contour (0-16) is placed on
   the 3D cheek/jaw line (a 3D-consistent contour, not the view-dependent silhouette).
2. A head surface: an ellipsoid (breadth 154 mm, height 230 mm, length 194 mm) centred behind the eyes,
   deformed along rays from its centre by a smooth two-scale Gaussian radial basis field so that it
   passes (nearly) through the landmarks and ~40 extra anatomical anchor points (forehead, cheeks,
   chin, nose sides, philtrum), plus two analytic ear bumps. The surface is sampled on a
   latitude-longitude grid whose pole looks out of the face, with rings denser over the face
   (about 6,100 vertices, 12,300 triangles). The 68 landmarks are 68 extra vertices (not in triangles)
   placed exactly; the bases move them consistently with the surface around them.
3. Identity basis (coefficients ~ N(0,1)): 14 global anthropometric modes (overall scale, width,
   height, depth, lower-face length, nose length/width, eye spacing and height, mouth width and height,
   jaw width, brow height, chin protrusion; each 1 std = a few per cent or a few mm), plus 68x3 local
   corrective modes (one per landmark and axis, 4 mm std, spreading to the surface within ~15 mm). The
   local modes let a tracker match an individual's landmark layout that no small global basis spans.
4. Expression basis (16 modes, 1 unit = a strong action): jaw open (12 degrees about a hinge near the
   ears), lips part, mouth wide, mouth round, left/right lip-corner raise, upper-lip raise, lower-lip
   depress, jaw sideways, mouth sideways, left/right brow raise, brow lowerer, left/right blink, jaw
   forward.

Units are metres, origin at the ellipsoid centre (~85 mm behind the eyes), frame x = subject's left,
y = up, z = out of the face (see gtalker.fit.facemodel).

Limits: one generic head; no hair, neck, teeth, tongue or eyeballs separate from the lids; the nose,
lips and ears are smooth blobs at a ~4 mm vertex spacing; the expression modes are hand-made linear
approximations (the jaw's rotation is linearised), not learnt from scans; depth along the viewing axis
is only as right as the average numbers above, so identity depth is poorly determined from 2D landmarks
and stays near the template. It is meant for head pose tracking and initial points, not face
reconstruction. The shipped file is resources/face_models/builtin.npz.
"""

from __future__ import annotations

import numpy as np

from gtalker.fit.facemodel import FaceModel

MM = 1e-3

# iBUG 300-W left/right mirror pairs (image-left index -> image-right index).
MIRROR_PAIRS = ([(i, 16 - i) for i in range(8)]
                + [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22), (31, 35), (32, 34),
                   (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
                   (48, 54), (49, 53), (50, 52), (59, 55), (58, 56), (60, 64), (61, 63), (67, 65)])

# Landmarks (mm) of the subject's right side (image left, x < 0) and the midline, in a frame whose
# origin is the midpoint of the inner eye corners: x = subject's left, y = up, z = out of the face.
_HALF_LANDMARKS = {
    0: (-70.0, -2.0, -60.0), 1: (-69.0, -20.0, -57.0), 2: (-67.0, -38.0, -52.0),
    3: (-63.0, -55.0, -45.0), 4: (-57.0, -71.0, -36.0), 5: (-48.0, -87.0, -25.0),
    6: (-36.0, -101.0, -13.0), 7: (-20.0, -112.0, -2.0), 8: (0.0, -117.0, 4.0),
    17: (-53.0, 14.0, -16.0), 18: (-44.0, 20.0, -6.0), 19: (-33.0, 23.0, 1.0),
    20: (-22.0, 22.0, 5.0), 21: (-11.0, 19.0, 8.0),
    27: (0.0, 2.0, 11.0), 28: (0.0, -12.5, 19.0), 29: (0.0, -27.0, 27.0), 30: (0.0, -41.5, 35.0),
    31: (-14.0, -46.0, 15.0), 32: (-7.5, -48.5, 18.0), 33: (0.0, -50.0, 20.0),
    36: (-45.0, 1.0, -9.0), 37: (-35.5, 5.5, -3.0), 38: (-25.5, 5.5, -0.5),
    39: (-16.0, 0.0, 0.0), 40: (-25.5, -3.5, -1.0), 41: (-35.5, -3.5, -3.5),
    48: (-25.0, -70.0, 7.0), 49: (-16.0, -65.0, 14.0), 50: (-7.0, -61.5, 19.0), 51: (0.0, -62.5, 20.5),
    57: (0.0, -80.0, 17.0), 58: (-8.5, -79.0, 15.5), 59: (-17.0, -76.0, 12.0),
    60: (-21.0, -70.0, 9.5), 61: (-8.0, -69.0, 17.0), 62: (0.0, -69.0, 18.5),
    66: (0.0, -70.0, 18.0), 67: (-8.0, -70.0, 16.5),
}

# Extra surface points (mm, same frame; x <= 0 side, mirrored) that shape the face between landmarks.
_HALF_ANCHORS = [
    (0.0, 14.0, 13.0), (0.0, 45.0, 8.0), (-30.0, 45.0, 0.0), (-50.0, 40.0, -15.0), (0.0, 75.0, -8.0),
    (-35.0, 72.0, -15.0), (-62.0, 25.0, -35.0), (-55.0, -15.0, -15.0), (-66.0, -10.0, -35.0),
    (-32.0, -18.0, 2.0), (-45.0, -40.0, -5.0), (-28.0, -55.0, 5.0), (-52.0, -55.0, -22.0),
    (0.0, -103.0, 13.0), (-18.0, -100.0, 8.0), (0.0, -90.0, 11.0), (0.0, -112.0, -25.0),
    (-25.0, -108.0, -25.0), (-9.0, -15.0, 12.0), (-11.0, -32.0, 16.0), (-17.0, -42.0, 10.0),
    (-30.0, 12.0, -1.0), (0.0, -56.0, 19.5), (-6.0, -42.0, 31.0), (-40.0, -80.0, -20.0),
]

HEAD_CENTRE = np.array([0.0, -3.0, -85.0])   # ellipsoid centre (mm, eye frame); the model's origin
HEAD_AXES = np.array([77.0, 115.0, 97.0])    # ellipsoid semi-axes (mm)
EAR_CENTRE = np.array([77.0, -12.0, -90.0])  # right ear is the mirror (x < 0)

UPPER_LIP = [49, 50, 51, 52, 53, 61, 62, 63]
LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]
LIP_CORNERS = [48, 54, 60, 64]
JAW_HINGE = np.array([0.0, -15.0, -75.0])  # axis (along x) of the linearised jaw rotation, mm
LIP_LINE_Y = -69.5


def _mirror(points: dict[int, tuple[float, float, float]]) -> np.ndarray:
    """Complete the 68 landmarks from one side and the midline."""
    out = np.full((68, 3), np.nan)
    for k, p in points.items():
        out[k] = p
    for left, right in MIRROR_PAIRS:
        out[right] = out[left] * np.array([-1.0, 1.0, 1.0])
    assert np.isfinite(out).all()
    return out


def template_landmarks_mm() -> np.ndarray:
    """The 68 template landmarks [68,3] in mm, eye-corner frame."""
    return _mirror(_HALF_LANDMARKS)


def anchor_points_mm() -> np.ndarray:
    """Extra anatomical surface points [M,3] in mm, both sides."""
    half = np.array(_HALF_ANCHORS)
    side = half[half[:, 0] < 0] * np.array([-1.0, 1.0, 1.0])
    return np.concatenate([half, side])


def ring_angles(n_rings: int) -> np.ndarray:
    """Polar angles (from the face-forward axis) of the grid rings, denser over the face."""
    s = np.arange(1, n_rings + 1) / (n_rings + 1)
    return np.pi * (0.5 * s + 0.5 * s * s)


def sphere_grid(n_rings: int = 64, n_az: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions [V,3] of a pole-forward latitude-longitude grid and its triangles [F,3]."""
    theta = ring_angles(n_rings)
    phi = 2 * np.pi * np.arange(n_az) / n_az
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    ring_dirs = np.stack([st * np.cos(phi), st * np.sin(phi), np.broadcast_to(ct, (n_rings, n_az))], -1)
    dirs = np.concatenate([[[0.0, 0.0, 1.0]], ring_dirs.reshape(-1, 3), [[0.0, 0.0, -1.0]]])
    back = len(dirs) - 1

    def vid(i: int, j: int) -> int:
        return 1 + i * n_az + (j % n_az)

    tris = []
    for j in range(n_az):
        tris.append((0, vid(0, j), vid(0, j + 1)))
        tris.append((back, vid(n_rings - 1, j + 1), vid(n_rings - 1, j)))
        for i in range(n_rings - 1):
            a, b = vid(i, j), vid(i, j + 1)
            c, d = vid(i + 1, j + 1), vid(i + 1, j)
            tris += [(a, d, c), (a, c, b)]
    tris = np.array(tris, dtype=np.int64)
    # Orient every triangle outwards (normal along the centroid direction on the unit sphere).
    a, b, c = dirs[tris[:, 0]], dirs[tris[:, 1]], dirs[tris[:, 2]]
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c) < 0
    tris[inward] = tris[inward][:, [0, 2, 1]]
    return dirs, tris


def _base_implicit(points: np.ndarray) -> np.ndarray:
    """< 0 inside the base head: an ellipsoid whose width tapers below the cheekbones (jaw, neck)."""
    rel = points - HEAD_CENTRE
    taper = 1.0 - 0.3 * smoothstep(-20.0, -110.0, points[:, 1])
    axes = HEAD_AXES[None, :] * np.stack([taper, np.ones_like(taper), np.ones_like(taper)], 1)
    return np.sqrt(((rel / axes) ** 2).sum(axis=1)) - 1.0


def base_radius(dirs: np.ndarray, r_max: float = 250.0, step: float = 0.5) -> np.ndarray:
    """Distance from the head centre to the outermost base surface along unit directions."""
    radii = np.arange(0.0, r_max, step)
    inside = np.stack([_base_implicit(HEAD_CENTRE + dirs * r) < 0 for r in radii], axis=1)
    last = len(radii) - 1 - np.argmax(inside[:, ::-1], axis=1)
    lo, hi = radii[last], radii[last] + step
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        ins = _base_implicit(HEAD_CENTRE + dirs * mid[:, None]) < 0
        lo, hi = np.where(ins, mid, lo), np.where(ins, hi, mid)
    return 0.5 * (lo + hi)


def _gauss_kernel(a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian kernel matrix between unit-vector sets (chord distance)."""
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * sigma * sigma))


def radial_field(dirs: np.ndarray, values: np.ndarray, query: np.ndarray,
                 levels: tuple[tuple[float, float], ...] = ((0.32, 1.0), (0.15, 3e-2), (0.08, 3e-2))
                 ) -> np.ndarray:
    """Multi-scale Gaussian RBF interpolation of `values` at `dirs`, evaluated at `query` directions.

    Each level (sigma, ridge) fits what the coarser levels left; the ridge keeps close constraints with
    slightly different values from producing ripples.
    """
    residual = values.astype(np.float64).copy()
    out = np.zeros(len(query))
    for sigma, ridge in levels:
        K = _gauss_kernel(dirs, dirs, sigma)
        w = np.linalg.solve(K + ridge * np.eye(len(dirs)), residual)
        out += _gauss_kernel(query, dirs, sigma) @ w
        residual = residual - K @ w
    return out


def _ear_bump(dirs: np.ndarray) -> np.ndarray:
    """Radial offset (mm) of the two ears along unit directions from the head centre."""
    bump = np.zeros(len(dirs))
    for sign in (1.0, -1.0):
        c = (EAR_CENTRE * np.array([sign, 1, 1])) - HEAD_CENTRE
        c = c / np.linalg.norm(c)
        d = dirs - c
        bump += 14.0 * np.exp(-(d[:, 1] ** 2) / (2 * 0.2 ** 2) - (d[:, 0] ** 2 + d[:, 2] ** 2) / (2 * 0.11 ** 2))
    return bump


def head_surface(n_rings: int = 64, n_az: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Head surface vertices [V,3] (mm, eye frame) and triangles through the landmarks and anchors."""
    grid_dirs, tris = sphere_grid(n_rings, n_az)
    targets = np.concatenate([template_landmarks_mm(), anchor_points_mm()])
    rel = targets - HEAD_CENTRE
    t_dirs = rel / np.linalg.norm(rel, axis=1, keepdims=True)
    offsets = np.linalg.norm(rel, axis=1) - base_radius(t_dirs)
    radius = base_radius(grid_dirs) + radial_field(t_dirs, offsets, grid_dirs) + _ear_bump(grid_dirs)
    return HEAD_CENTRE + grid_dirs * radius[:, None], tris


# ---------------------------------------------------------------- displacement fields (mm, eye frame)

def gauss(points: np.ndarray, centre: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """Anisotropic Gaussian weight of each point around `centre` (sigma per axis, mm)."""
    d = (points - np.asarray(centre, np.float64)) / np.asarray(sigma, np.float64)
    return np.exp(-0.5 * (d ** 2).sum(axis=1))


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """0 below e0, 1 above e1, a smooth cubic in between."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fold_x(points: np.ndarray) -> np.ndarray:
    """Points with x replaced by |x| (symmetric fields defined on one side)."""
    out = points.copy()
    out[:, 0] = np.abs(out[:, 0])
    return out


def lip_split(points: np.ndarray, n_grid: int) -> np.ndarray:
    """-1 on the upper lip side, +1 on the lower lip side of the lip line (exact for landmark vertices).

    The first n_grid rows are surface vertices, the rest are the 68 landmark vertices.
    """
    s = np.tanh((LIP_LINE_Y - points[:, 1]) / 1.5)
    lm = np.zeros(68)
    lm[UPPER_LIP] = -1.0
    lm[LOWER_LIP] = 1.0
    s[n_grid:] = lm
    return s


def jaw_weight(points: np.ndarray, n_grid: int) -> np.ndarray:
    """How much each vertex follows the lower jaw (0..1); explicit for landmark vertices."""
    ax = np.abs(points[:, 0])
    soft = 1.5 + 8.0 * smoothstep(20.0, 45.0, ax)
    w = _sigmoid((LIP_LINE_Y - points[:, 1]) / soft) * smoothstep(-70.0, -40.0, points[:, 2])
    lm = np.zeros(68)
    lm[LOWER_LIP] = 1.0
    lm[LIP_CORNERS] = 0.5
    # The whole jaw line rides on the mandible (2D detectors slide their contour points with it);
    # the rotation about the hinge already makes the motion small near the ears.
    lm[2:15] = 1.0
    lm[[1, 15]] = 0.5
    w[n_grid:] = lm
    return w


def identity_modes(points: np.ndarray, n_grid: int, landmarks: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Identity displacement fields [I,P,3] in mm per standard deviation."""
    X = points
    folded = fold_x(X)
    c = HEAD_CENTRE
    zeros = np.zeros_like(X)
    modes: list[tuple[str, np.ndarray]] = []

    def add(name: str, field: np.ndarray) -> None:
        modes.append((name, field))

    add("scale", 0.05 * (X - c))
    f = zeros.copy(); f[:, 0] = 0.05 * X[:, 0]; add("width", f)
    f = zeros.copy(); f[:, 1] = 0.05 * (X[:, 1] - c[1]); add("height", f)
    f = zeros.copy(); f[:, 2] = 0.05 * (X[:, 2] - c[2]); add("depth", f)
    f = zeros.copy(); f[:, 1] = -6.0 * smoothstep(-45.0, -115.0, X[:, 1]); add("lower_face_length", f)
    f = zeros.copy(); g = gauss(X, (0, -32, 25), (12, 18, 14))
    f[:, 1] = -3.0 * g; f[:, 2] = 4.0 * g; add("nose_length", f)
    f = zeros.copy(); f[:, 0] = 3.0 * np.sign(X[:, 0]) * gauss(folded, (14, -45, 14), 9.0)
    add("nose_width", f)
    f = zeros.copy()
    f[:, 0] = 3.0 * np.sign(X[:, 0]) * gauss(folded, (30, 1, -3), (12, 10, 12))
    add("eye_spacing", f)
    f = zeros.copy(); f[:, 1] = 3.0 * gauss(folded, (30, 3, -3), (16, 9, 14)); add("eye_height", f)
    f = zeros.copy(); f[:, 0] = 0.15 * X[:, 0] * gauss(X, (0, -70, 12), (22, 12, 18)); add("mouth_width", f)
    f = zeros.copy(); f[:, 1] = 4.0 * gauss(X, (0, -70, 12), (26, 14, 20)); add("mouth_height", f)
    f = zeros.copy(); f[:, 0] = 0.08 * X[:, 0] * smoothstep(-50.0, -95.0, X[:, 1]); add("jaw_width", f)
    f = zeros.copy(); f[:, 1] = 4.0 * gauss(folded, (32, 20, 0), (16, 9, 14)); add("brow_height", f)
    f = zeros.copy(); f[:, 2] = 5.0 * gauss(X, (0, -105, 10), (22, 16, 20)); add("chin_protrusion", f)
    names = [m[0] for m in modes]
    basis = [m[1] for m in modes]
    # Local correctives: each landmark vertex alone, spreading smoothly onto the surface around it.
    std = 4.0
    for k in range(68):
        w = gauss(X[:n_grid], landmarks[k], 5.0)
        w[w < 1e-3] = 0.0
        for axis, label in enumerate("xyz"):
            f = zeros.copy()
            f[:n_grid, axis] = std * w
            f[n_grid + k, axis] = std
            basis.append(f)
            names.append(f"lmk{k}_{label}")
    return names, np.stack(basis)


def expression_modes(points: np.ndarray, n_grid: int) -> tuple[list[str], np.ndarray]:
    """Expression displacement fields [E,P,3] in mm per unit (a strong action)."""
    X = points
    folded = fold_x(X)
    zeros = np.zeros_like(X)
    split = lip_split(X, n_grid)
    upper = (split < 0).astype(np.float64) * np.abs(split)
    lower = (split > 0).astype(np.float64) * np.abs(split)
    jaw = jaw_weight(X, n_grid)
    mouth = gauss(X, (0, -70, 14), (20, 10, 16))
    mouth_wide = gauss(X, (0, -70, 12), (28, 14, 20))
    modes: list[tuple[str, np.ndarray]] = []

    # Jaw open: rotation about the hinge axis (x), linearised, 0.2 rad (~12 degrees) per unit.
    rel = X - JAW_HINGE
    f = zeros.copy()
    f[:, 1] = -0.2 * rel[:, 2] * jaw
    f[:, 2] = 0.2 * rel[:, 1] * jaw
    modes.append(("jaw_open", f))
    f = zeros.copy(); f[:, 1] = 2.5 * mouth * (upper - lower); modes.append(("lips_part", f))
    f = zeros.copy()
    f[:, 0] = 0.36 * X[:, 0] * mouth_wide
    f[:, 2] = -2.5 * smoothstep(5.0, 25.0, np.abs(X[:, 0])) * mouth_wide
    modes.append(("mouth_wide", f))
    f = zeros.copy()
    f[:, 0] = -0.3 * X[:, 0] * mouth_wide
    f[:, 1] = 1.0 * mouth * (upper - lower)
    f[:, 2] = 5.0 * mouth
    modes.append(("mouth_round", f))
    for side, label in ((1.0, "left"), (-1.0, "right")):
        g = gauss(X, (side * 25.0, -70.0, 7.0), 10.0)
        f = zeros.copy(); f[:, 0] = side * 1.5 * g; f[:, 1] = 4.0 * g; f[:, 2] = -1.5 * g
        modes.append((f"corner_up_{label}", f))
    f = zeros.copy(); f[:, 1] = 3.0 * gauss(X, (0, -62, 19), (15, 6, 14)) * upper; modes.append(("upper_lip_up", f))
    f = zeros.copy(); f[:, 1] = -3.0 * gauss(X, (0, -79, 16), (15, 7, 14)) * lower
    modes.append(("lower_lip_down", f))
    f = zeros.copy(); f[:, 0] = 4.0 * jaw; modes.append(("jaw_sideways", f))
    f = zeros.copy(); f[:, 0] = 4.0 * gauss(X, (0, -70, 14), (18, 12, 16)); modes.append(("mouth_sideways", f))
    for side, label in ((1.0, "left"), (-1.0, "right")):
        f = zeros.copy(); f[:, 1] = 6.0 * gauss(X, (side * 32.0, 22.0, 0.0), (26, 14, 24))
        brow = list(range(22, 27)) if side > 0 else list(range(21, 16, -1))  # inner to outer
        other = list(range(17, 22)) if side > 0 else list(range(22, 27))
        f[[n_grid + k for k in brow], 1] = 6.0 * np.array([0.9, 1.0, 1.0, 0.95, 0.8])
        f[[n_grid + k for k in other], 1] = 0.0
        modes.append((f"brow_up_{label}", f))
    g = gauss(folded, (14.0, 19.0, 7.0), 10.0)
    f = zeros.copy(); f[:, 0] = -3.0 * np.sign(X[:, 0]) * g; f[:, 1] = -4.0 * g; modes.append(("brow_lower", f))
    for side, label in ((1.0, "left"), (-1.0, "right")):
        up = gauss(X, (side * 30.5, 5.5, -1.0), (9.0, 4.0, 8.0))
        low = gauss(X, (side * 30.5, -3.5, -1.0), (9.0, 2.5, 8.0))
        f = zeros.copy(); f[:, 1] = -8.5 * up + 1.0 * low
        # Lid landmarks exactly: upper lid onto the lower lid.
        lid_up = [43, 44] if side > 0 else [37, 38]
        lid_low = [46, 47] if side > 0 else [40, 41]
        f[n_grid:] = 0.0
        f[[n_grid + k for k in lid_up], 1] = -8.0
        f[[n_grid + k for k in lid_low], 1] = 1.0
        modes.append((f"blink_{label}", f))
    f = zeros.copy(); f[:, 2] = 4.0 * jaw; modes.append(("jaw_forward", f))
    return [m[0] for m in modes], np.stack([m[1] for m in modes])


def build_builtin_model(n_rings: int = 64, n_az: int = 96) -> FaceModel:
    """Make the builtin face model (deterministic)."""
    surface, tris = head_surface(n_rings, n_az)
    landmarks = template_landmarks_mm()
    points = np.concatenate([surface, landmarks])
    n_grid = len(surface)
    id_names, id_basis = identity_modes(points, n_grid, landmarks)
    exp_names, exp_basis = expression_modes(points, n_grid)
    return FaceModel(
        name="builtin",
        mean=(points - HEAD_CENTRE) * MM,
        id_basis=id_basis * MM,
        exp_basis=exp_basis * MM,
        lmk_idx=np.arange(n_grid, n_grid + 68, dtype=np.int64),
        triangles=tris.astype(np.int64),
        id_names=id_names,
        exp_names=exp_names,
    )
