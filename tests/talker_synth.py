"""A tiny synthetic talking head for the talker/render tests, in the CONTRACTS.md dataset layout.

Gaussians on the front of an ellipsoid ("face") with a mouth whose dark opening grows with a per-frame
signal m in [0,1]; audio features [N,16,4] are functions of m in the 16 steps around each frame, so
the mouth is predictable from the audio only. Ground-truth frames are rendered with the torch
rasteriser under small head motions; the canonical head holds the train-average colours (the mouth
half-open), i.e. what a canonical stage would learn.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from gtalker.canonical.model import CanonicalHead
from gtalker.common import SAMPLE_RATE, write_json
from gtalker.face.landmarks import LandmarkTrack, save_landmark_track
from gtalker.io.audio import write_wav
from gtalker.io.frames import frame_path, write_image
from gtalker.splat.gaussians import GaussianModel
from gtalker.splat.rasterize import rasterize
from gtalker.splat.sh import rgb_to_sh

RADII = (0.1, 0.12, 0.06)
DISTANCE = 0.45
MOUTH_Y = 0.45          # mouth centre, in units of RADII[1] below the centre (y points down)
MOUTH_HALF_WIDTH = 0.42  # in units of RADII[0]
FPS = 25


def face_points(n: int, seed: int) -> torch.Tensor:
    """Points on a regular-ish grid over the front half of an ellipsoid (facing -z)."""
    side = int(math.ceil(math.sqrt(n * 4 / math.pi)))
    u = torch.linspace(-1, 1, side)
    x, y = torch.meshgrid(u, u, indexing="xy")
    keep = x ** 2 + y ** 2 < 1
    x, y = x[keep], y[keep]
    jitter = torch.Generator().manual_seed(seed)
    x = x + torch.randn(x.shape, generator=jitter) * 0.3 / side
    y = y + torch.randn(y.shape, generator=jitter) * 0.3 / side
    z = -torch.sqrt((1 - x ** 2 - y ** 2).clamp_min(0))
    return torch.stack([x * RADII[0], y * RADII[1], z * RADII[2]], dim=1)


def skin_colors(points: torch.Tensor) -> torch.Tensor:
    """Skin with two dark eyes, lips and a little texture."""
    x, y = points[:, 0] / RADII[0], points[:, 1] / RADII[1]
    rgb = torch.stack([0.86 + 0.04 * torch.sin(25 * x), 0.64 + 0.03 * torch.sin(21 * y),
                       0.52 + 0.0 * x], dim=1)
    for ex in (-0.4, 0.4):
        rgb[(x - ex) ** 2 + (y + 0.2) ** 2 < 0.015] = torch.tensor([0.15, 0.15, 0.3])
    lips = (x / (MOUTH_HALF_WIDTH + 0.08)) ** 2 + ((y - MOUTH_Y) / 0.16) ** 2 < 1
    rgb[lips] = torch.tensor([0.75, 0.3, 0.32])
    return rgb


def mouth_colors(points: torch.Tensor, base: torch.Tensor, opening: float) -> torch.Tensor:
    """Colours with a dark mouth opening whose half-height grows with `opening` in [0,1]."""
    x, y = points[:, 0] / RADII[0], points[:, 1] / RADII[1]
    half_h = 0.02 + 0.13 * opening
    inside = (x / MOUTH_HALF_WIDTH) ** 2 + ((y - MOUTH_Y) / half_h) ** 2 < 1
    out = base.clone()
    out[inside] = torch.tensor([0.08, 0.02, 0.04])
    return out


def mouth_signal(n: int, seed: int) -> np.ndarray:
    """Speech-like opening per frame: bursts of syllables with pauses, smooth, in [0,1]."""
    rng = np.random.default_rng(seed)
    m = np.zeros(n)
    pos = 2
    while pos < n:
        length = int(rng.integers(3, 7))
        bump = rng.uniform(0.4, 1.0) * np.sin(np.linspace(0, np.pi, length + 2)[1:-1])
        m[pos:pos + length] = bump[: n - pos]
        pos += length + int(rng.integers(1, 5))
    return m.astype(np.float32)


def audio_features(m: np.ndarray, seed: int, channels: int = 4) -> np.ndarray:
    """[N,16,C] windows: step j of frame k looks at time k + (j - 8)/2 frames (50 Hz steps)."""
    rng = np.random.default_rng(seed + 1000)
    n = len(m)
    t = np.arange(n)[:, None] + (np.arange(16)[None, :] - 8) / 2.0
    value = np.interp(t, np.arange(n), m, left=0.0, right=0.0)
    feats = np.zeros((n, 16, channels), dtype=np.float32)
    feats[..., 0] = value
    feats[..., 1] = value ** 2
    feats[..., 2] = rng.normal(0, 0.05, size=(n, 16))
    feats[..., 3] = 1 - value + rng.normal(0, 0.05, size=(n, 16))
    return feats


def poses(n: int, seed: int, distance: float = DISTANCE) -> tuple[np.ndarray, np.ndarray]:
    """Small smooth head motions: R [N,3,3], t [N,3] (head -> camera)."""
    rng = np.random.default_rng(seed + 7)
    k = np.arange(n)
    yaw = np.radians(5) * np.sin(2 * np.pi * k / 37 + rng.uniform(0, 6))
    roll = np.radians(3) * np.sin(2 * np.pi * k / 23 + rng.uniform(0, 6))
    R = []
    for a, c in zip(yaw, roll):
        ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
        R.append(rz @ ry)
    t = np.stack([0.004 * np.sin(k / 5.0), 0.003 * np.cos(k / 7.0), np.full(n, distance)], axis=1)
    return np.stack(R).astype(np.float32), t.astype(np.float32)


def project(point: np.ndarray, R: np.ndarray, t: np.ndarray, K: np.ndarray) -> np.ndarray:
    cam = R @ point + t
    uvw = K @ cam
    return uvw[:2] / uvw[2]


def dark_fraction(img: np.ndarray, box: np.ndarray) -> float:
    """Cheap mouth-opening measure: fraction of dark pixels (luma < 0.3) inside the lip box."""
    x0, y0, x1, y1 = (int(v) for v in box)
    patch = img[max(y0, 0):y1, max(x0, 0):x1].astype(np.float32) / (255.0 if img.dtype == np.uint8 else 1.0)
    if patch.size == 0:
        return 0.0
    luma = patch @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return float((luma < 0.3).mean())


def mouth_landmarks(u: float, v: float, half: float, opening: float) -> np.ndarray:
    """68 landmarks [68,2] around the projected mouth centre (u, v): eye corners 36/45 a mouth width apart
    above it, inner lips 61-63 / 65-67 `opening` * half apart (what gtalker.metrics.landmarks measures)."""
    lms = np.tile(np.array([u, v], np.float32), (68, 1))
    lms[36], lms[45] = (u - 2 * half, v - 2 * half), (u + 2 * half, v - 2 * half)
    lms[[61, 62, 63], 1] = v - opening * half / 2
    lms[[65, 66, 67], 1] = v + opening * half / 2
    return lms


def write_talking_dataset(root: Path, n_frames: int = 80, n_val: int = 20, size: int = 48,
                          n_gaussians: int = 1200, seed: int = 0, distance: float = DISTANCE) -> dict:
    """Write a dataset folder (+ audio features, audio.wav and a canonical head.pt); return its facts."""
    root = Path(root)
    for sub in ("face/gt", "face/torso_bg", "face/parsing", "fit", "audio", "ingest", "canonical"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    points = face_points(n_gaussians, seed)
    base = skin_colors(points)
    n = points.shape[0]
    spacing = 2.2 * RADII[0] / math.sqrt(n * 4 / math.pi)
    log_scales = torch.log(torch.tensor([spacing, spacing, spacing * 0.3])).expand(n, 3).clone()
    quats = torch.tensor([1.0, 0, 0, 0]).expand(n, 4).clone()
    opacity = torch.full((n,), 0.95)
    m = mouth_signal(n_frames, seed)
    R, t = poses(n_frames, seed, distance)
    focal = 1.9 * size
    c = (size - 1) / 2.0
    K = np.array([[focal, 0, c], [0, focal, c], [0, 0, 1]], dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / size
    bg = (np.stack([0.25 + 0.3 * xx, 0.35 + 0.2 * yy, 0.5 - 0.2 * xx], -1) * 255).astype(np.uint8)
    bg_t = torch.from_numpy(bg.astype(np.float32) / 255)
    lips = np.zeros((n_frames, 4), np.int32)
    lms = np.zeros((n_frames, 68, 2), np.float32)
    mouth_centre = np.array([0.0, MOUTH_Y * RADII[1], -RADII[2] * 0.8])
    half = (MOUTH_HALF_WIDTH + 0.15) * RADII[0] * focal / distance
    for i in range(n_frames):
        w2c = torch.eye(4)
        w2c[:3, :3] = torch.from_numpy(R[i])
        w2c[:3, 3] = torch.from_numpy(t[i])
        with torch.no_grad():
            out = rasterize(points, quats, torch.exp(log_scales), opacity, mouth_colors(points, base, float(m[i])),
                            torch.from_numpy(K), w2c, size, size, background=bg_t, backend="torch")
        write_image(frame_path(root / "face/gt", i, ".jpg"), (out.color.numpy() * 255 + 0.5).astype(np.uint8), 98)
        write_image(frame_path(root / "face/torso_bg", i, ".jpg"), bg, 98)
        write_image(frame_path(root / "face/parsing", i, ".png"), (out.alpha[..., 0].numpy() > 0.5).astype(np.uint8))
        u, v = project(mouth_centre, R[i], t[i], K)
        lips[i] = [round(u - half), round(v - half), round(u + half), round(v + half)]
        lms[i] = mouth_landmarks(u, v, half, float(m[i]))
    np.save(root / "face/lips.npy", lips)
    save_landmark_track(str(root / "face/landmarks.npz"),
                        LandmarkTrack(lms, np.ones(n_frames, bool), np.zeros(n_frames, bool), np.ones(n_frames)))
    np.save(root / "face/blinks.npy", np.zeros(n_frames, np.float32))
    np.savez(root / "fit/track.npz", focal=np.float32(focal), cx=np.float32(c), cy=np.float32(c),
             size=np.int32(size), R=R, t=t, euler=np.zeros((n_frames, 3), np.float32),
             expression=np.zeros((n_frames, 1), np.float32), identity=np.zeros(1, np.float32),
             reproj_err=np.zeros(n_frames, np.float32), model=np.array("synthetic"))
    train = list(range(n_frames - n_val))
    val = list(range(n_frames - n_val, n_frames))
    write_json(root / "split.json", {"train": train, "val": val})
    write_json(root / "ingest/frames.json", {"n_frames": n_frames, "fps": FPS, "size": size, "source": "synthetic"})
    np.save(root / "audio/features_mel.npy", audio_features(m, seed))
    # audio: a tone whose loudness follows the mouth (only muxed into videos)
    n_samples = int(round(n_frames * SAMPLE_RATE / FPS))
    env = np.interp(np.arange(n_samples) / SAMPLE_RATE * FPS, np.arange(n_frames), m)
    write_wav(root / "ingest/audio.wav", 0.5 * env * np.sin(2 * np.pi * 220 * np.arange(n_samples) / SAMPLE_RATE))
    # canonical head: true geometry, train-average colours
    mean_rgb = torch.stack([mouth_colors(points, base, float(m[i])) for i in train]).mean(0)
    g = GaussianModel(n, max_sh_degree=0)
    with torch.no_grad():
        g.means.copy_(points)
        g.log_scales.copy_(log_scales)
        g.quats.copy_(quats)
        g.opacity_logits.copy_(torch.logit(opacity))
        g.sh_dc.copy_(rgb_to_sh(mean_rgb)[:, None, :])
    CanonicalHead(g, None).save(root / "canonical/head.pt")
    return {"m": m, "train": train, "val": val, "lips": lips, "K": K, "size": size}


def train_args(root: Path, out: Path) -> dict:
    """Paths for gtalker.talker.train.train on a synthetic dataset folder."""
    return {"dataset_dir": str(root), "head_path": str(root / "canonical/head.pt"),
            "features_path": str(root / "audio/features_mel.npy"), "split_path": str(root / "split.json"),
            "out_model": str(out / "model.pt"), "out_log": str(out / "train_log.json")}
