"""Built-in demo data: a deterministic talking-head video made from a real face photo.

The photo is scikit-image's `astronaut` (public domain, NASA), cropped around the head. Speech-like audio
is formant-synthesised syllables (five vowels, consonant bursts, pauses), or (voice "espeak") espeak-ng
English sentences whose phone timings drive the mouth (gtalker.demo_voice). The face is animated to match
it: the jaw opens by an amount that depends on the vowel, the lips spread or round, the eyes blink at
random times, and the head layer moves by small in-plane similarity transforms over a static background.
A ground-truth file records every animation parameter per frame.

CLI: python -m gtalker.demo --out demo.mp4 --truth truth.npz [--seconds 20 --size 512 --seed 0 --voice espeak]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.signal import lfilter
from tqdm import tqdm

from gtalker.common import SAMPLE_RATE, InputError, atomic_path, reports_input_errors, setup_logging
from gtalker.io.audio import write_wav
from gtalker.io.video import VideoWriter
from gtalker.settings import add_flags, from_args

FPS = 25
VOWELS = "aeiou"
# Formant frequencies (Hz) and bandwidths for an adult voice, one row per vowel a e i o u.
FORMANTS = np.array([[850, 1220, 2810], [590, 2330, 2990], [310, 2790, 3310],
                     [560, 920, 2830], [370, 950, 2670]], dtype=np.float64)
BANDWIDTHS = np.array([90.0, 110.0, 150.0])
# Mouth opening (0..1) and width factor per vowel: the picture depends on the vowel, not only loudness.
VOWEL_OPEN = np.array([1.0, 0.55, 0.28, 0.75, 0.4])
VOWEL_WIDTH = np.array([1.0, 1.12, 1.18, 0.82, 0.72])

# Photo crop (x0, y0, side) in the 512x512 astronaut image, and its 68 landmarks (dlib, measured once).
CROP = (98, 0, 256)
_LANDMARKS_PHOTO = np.array([
    [179, 104], [180, 116], [181, 127], [182, 139], [185, 150], [191, 160], [200, 168], [209, 176],
    [220, 178], [232, 177], [243, 171], [253, 163], [260, 154], [265, 143], [268, 131], [270, 120],
    [272, 108], [186, 94], [192, 88], [200, 87], [208, 89], [216, 92], [236, 93], [244, 91], [252, 91],
    [260, 92], [265, 99], [226, 102], [225, 111], [225, 119], [225, 127], [214, 131], [219, 133],
    [224, 134], [229, 133], [234, 132], [195, 101], [200, 98], [207, 98], [212, 104], [206, 104],
    [199, 104], [237, 106], [243, 100], [250, 100], [255, 105], [250, 107], [244, 107], [201, 139],
    [209, 139], [218, 139], [224, 141], [230, 140], [238, 140], [246, 141], [238, 151], [229, 155],
    [222, 156], [216, 155], [208, 150], [204, 141], [218, 143], [223, 144], [230, 143], [243, 142],
    [229, 150], [223, 151], [217, 150]], dtype=np.float64)
# Hair outline (photo coordinates) that closes the jaw line into a head polygon.
_HAIR_PHOTO = np.array([[280, 110], [294, 108], [302, 92], [304, 62], [290, 30], [256, 12], [215, 10],
                        [176, 22], [154, 48], [148, 80], [156, 108], [175, 106]], dtype=np.float64)


@dataclass
class Speech:
    """Synthesised speech and its per-sample annotation."""

    samples: np.ndarray      # float32 mono at SAMPLE_RATE
    vowel: np.ndarray        # int8 per sample: -1 none, 0..4 vowel index
    openness: np.ndarray     # float32 per sample: target mouth opening
    width: np.ndarray        # float32 per sample: target mouth width factor
    smoothing: float = 0.55  # articulator smoothing of the per-frame targets (`_smooth` alpha)


def _resonator(signal: np.ndarray, freq: float, bw: float, sr: int) -> np.ndarray:
    """Second-order all-pole resonator (one formant), unity gain at DC."""
    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * freq / sr
    a = [1.0, -2 * r * np.cos(theta), r * r]
    return lfilter([sum(a)], a, signal)


def _envelope(n: int, sr: int, attack: float = 0.025, release: float = 0.045) -> np.ndarray:
    """Raised-cosine attack/release amplitude envelope of n samples."""
    env = np.ones(n)
    na, nr = min(n // 2, int(attack * sr)), min(n // 2, int(release * sr))
    if na:
        env[:na] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, na))
    if nr:
        env[-nr:] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, nr))
    return env


def synthesize_speech(seconds: float, seed: int, sr: int = SAMPLE_RATE) -> Speech:
    """Formant-synthesised syllables with pauses; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    n_total = int(round(seconds * sr))
    samples = np.zeros(n_total)
    vowel = np.full(n_total, -1, dtype=np.int8)
    openness = np.zeros(n_total)
    width = np.ones(n_total)
    pos = int(0.3 * sr)
    f0_base = rng.uniform(170, 210)
    while pos < n_total - int(0.2 * sr):
        for _ in range(rng.integers(1, 5)):  # one word of 1-4 syllables
            if rng.random() < 0.6:  # consonant: a short noise burst, lips nearly closed
                nc = int(rng.uniform(0.03, 0.07) * sr)
                if pos + nc >= n_total:
                    break
                burst = rng.standard_normal(nc) * _envelope(nc, sr, 0.005, 0.02)
                burst = lfilter([1, -0.95], [1], burst) * rng.uniform(0.05, 0.12)
                samples[pos:pos + nc] += burst
                openness[pos:pos + nc] = 0.12
                pos += nc
            nv = int(rng.uniform(0.14, 0.30) * sr)
            if pos + nv >= n_total:
                break
            k = int(rng.integers(0, 5))
            t = np.arange(nv) / sr
            f0 = f0_base * (1 + 0.06 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6)))
            phase = np.cumsum(f0 / sr)
            pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
            source = lfilter([1.0], [1.0, -0.97], pulses)  # spectral tilt
            voiced = source
            for f, b in zip(FORMANTS[k], BANDWIDTHS):
                voiced = _resonator(voiced, f * rng.uniform(0.97, 1.03), b, sr)
            voiced = voiced / (np.abs(voiced).max() + 1e-9)
            env = _envelope(nv, sr)
            samples[pos:pos + nv] += voiced * env * rng.uniform(0.5, 0.8)
            vowel[pos:pos + nv] = k
            openness[pos:pos + nv] = VOWEL_OPEN[k] * env
            width[pos:pos + nv] = 1 + (VOWEL_WIDTH[k] - 1) * env
            pos += nv
        pos += int(rng.uniform(0.15, 0.6) * sr)  # pause between words
    samples += rng.standard_normal(n_total) * 1e-3  # faint room noise
    samples = 0.8 * samples / (np.abs(samples).max() + 1e-9)
    return Speech(samples.astype(np.float32), vowel, openness.astype(np.float32), width.astype(np.float32))


def _per_frame(values: np.ndarray, n_frames: int, sr: int, fps: float) -> np.ndarray:
    """Mean of a per-sample signal over each frame's time span."""
    spf = sr / fps
    edges = np.round(np.arange(n_frames + 1) * spf).astype(int)
    edges = np.clip(edges, 0, len(values))
    csum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    counts = np.maximum(np.diff(edges), 1)
    return (csum[edges[1:]] - csum[edges[:-1]]) / counts


def _smooth(x: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Forward-backward one-pole smoothing (articulators do not jump)."""
    y = lfilter([1 - alpha], [1, -alpha], x)
    return lfilter([1 - alpha], [1, -alpha], y[::-1])[::-1]


def _smooth_noise(rng: np.random.Generator, n: int, fps: float, amplitude: float) -> np.ndarray:
    """Sum of slow sinusoids (0.05-0.4 Hz) with random phases, scaled to +-amplitude."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for _ in range(4):
        out += np.sin(2 * np.pi * rng.uniform(0.05, 0.4) * t + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.5, 1)
    return amplitude * out / 4.0


def _blinks(rng: np.random.Generator, n: int, fps: float) -> np.ndarray:
    """Eye closure per frame (0 open .. 1 closed) with blinks at random (Poisson) times."""
    closure = np.zeros(n)
    t = rng.uniform(0.5, 2.5)
    duration = n / fps
    while t < duration - 0.3:
        close, reopen = 0.08, 0.14
        for i in range(n):
            dt = i / fps - t
            if 0 <= dt < close:
                closure[i] = max(closure[i], dt / close)
            elif close <= dt < close + reopen:
                closure[i] = max(closure[i], 1 - (dt - close) / reopen)
        t += rng.exponential(3.0) + 1.0
    return closure


@dataclass
class Geometry:
    """Reference head image, its mask, background and key points at the output size."""

    head: np.ndarray          # [S,S,3] uint8 reference image
    mask: np.ndarray          # [S,S] float32 head mask (soft edge)
    background: np.ndarray    # [S,S,3] uint8 static background (head region inpainted)
    landmarks: np.ndarray     # [68,2]
    size: int


def build_geometry(size: int) -> Geometry:
    """Crop the astronaut photo, scale to size, build head mask and the head-free background."""
    import skimage.data

    x0, y0, side = CROP
    photo = skimage.data.astronaut()[y0:y0 + side, x0:x0 + side]
    scale = size / side
    img = cv2.resize(photo, (size, size), interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    landmarks = (_LANDMARKS_PHOTO - [x0, y0]) * scale
    hair = (_HAIR_PHOTO - [x0, y0]) * scale
    poly = np.concatenate([landmarks[:17], hair]).astype(np.float32)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 255)
    grown = cv2.dilate(mask, np.ones((max(3, size // 40),) * 2, np.uint8))
    small = max(64, size // 4)
    bg_small = cv2.inpaint(cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA),
                           cv2.resize(grown, (small, small), interpolation=cv2.INTER_NEAREST), 5,
                           cv2.INPAINT_TELEA)
    bg_big = cv2.resize(bg_small, (size, size), interpolation=cv2.INTER_CUBIC)
    keep = (grown == 0)[..., None]
    background = np.where(keep, img, bg_big).astype(np.uint8)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(0.6, size / 512))
    return Geometry(head=img, mask=soft, background=background, landmarks=landmarks, size=size)


def _mouth_params(geo: Geometry) -> tuple[float, float, float, float]:
    """Mouth centre (x, y), mouth width and chin y in the reference image."""
    lm = geo.landmarks
    inner = lm[60:68]
    cx, cy = inner[:, 0].mean(), inner[:, 1].mean()
    width = float(np.linalg.norm(lm[54] - lm[48]))
    return float(cx), float(cy), width, float(lm[8, 1])


def jaw_maps(geo: Geometry, opening: float, width_factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward remap grids that drop the jaw by the opening and spread/round the lips.

    Returns (map_x, map_y, dy) where dy is the downward displacement field (pixels).
    """
    s = geo.size
    cx, cy, w0, chin = _mouth_params(geo)
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float32)
    gap = opening * 0.34 * w0
    fx = np.exp(-(((xs - cx) / (0.95 * w0)) ** 4))
    # The lip line opens sharply inside the mouth and turns into a smooth stretch over the cheeks.
    ramp = 1.0 + 0.6 * w0 * np.clip((np.abs(xs - cx) - 0.42 * w0) / (0.3 * w0), 0.0, 1.0)
    below = np.clip((ys - cy) / (2.0 * ramp) + 0.5, 0.0, 1.0)  # 0 above the lip line, 1 below
    fade = np.exp(-np.clip(ys - chin, 0, None) ** 2 / (0.5 * (0.35 * w0) ** 2))
    dy = gap * fx * below * fade
    spread = lip_spread_weight(geo, xs, ys)
    map_x = xs - (xs - cx) * (1.0 - 1.0 / width_factor) * spread
    map_y = ys - dy
    return map_x.astype(np.float32), map_y.astype(np.float32), dy


def lip_spread_weight(geo: Geometry, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """How much the lips' spreading/rounding moves the point (xs, ys): 1 on the lip line, fading over
    the cheeks beside the mouth and down the chin, and exactly 0 from the tip of the nose upwards, so
    that the nose tip and bridge, eyes, brows and the upper face outline stay where the head pose puts
    them (the nostrils move a little with the upper lip, as they do on a face)."""
    cx, cy, w0, _ = _mouth_params(geo)
    nose_tip = float(geo.landmarks[30, 1])
    lips_top = float(geo.landmarks[[48, 51, 54], 1].min())
    up = np.clip((ys - nose_tip) / max(lips_top - nose_tip, 1.0), 0.0, 1.0)
    upper = up * up * (3.0 - 2.0 * up)                       # smoothstep: 0 at the nose tip, 1 at the lips
    vertical = np.where(ys < cy, upper, np.exp(-(((ys - cy) / (0.45 * w0)) ** 2)))
    return np.exp(-(((xs - cx) / (0.9 * w0)) ** 2)) * vertical


def _paint_mouth(img: np.ndarray, geo: Geometry, opening: float, width_factor: float) -> None:
    """Paint the dark mouth interior (and upper teeth when wide open) into the gap, in place."""
    cx, cy, w0, _ = _mouth_params(geo)
    gap = opening * 0.34 * w0
    if gap < 0.5:
        return
    s = geo.size
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float32)
    ax, ay = 0.36 * w0 * width_factor, gap / 2 + 0.5
    ell = ((xs - cx) / ax) ** 2 + ((ys - (cy + gap / 2)) / ay) ** 2
    alpha = np.clip((1.0 - ell) * max(ax, ay) / 1.5, 0, 1)[..., None]
    interior = np.empty_like(img, dtype=np.float32)
    interior[:] = (70, 22, 28)
    teeth = (ys < cy + 0.3 * gap) & (np.abs(xs - cx) < 0.7 * ax)
    interior[teeth] = (225, 220, 210)
    img[:] = (img * (1 - alpha) + interior * alpha).astype(np.uint8)


def _paint_blink(img: np.ndarray, geo: Geometry, closure: float) -> None:
    """Cover the eyes with the upper lid (skin colour from above the eye) by `closure`, in place."""
    if closure <= 0.02:
        return
    for lo, hi in ((36, 42), (42, 48)):
        eye = geo.landmarks[lo:hi]
        x0, x1 = eye[:, 0].min(), eye[:, 0].max()
        y0, y1 = eye[:, 1].min(), eye[:, 1].max()
        w, h = x1 - x0, max(y1 - y0, 2.0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        pad = 0.35 * w
        sx0, sx1 = int(max(cx - w / 2 - pad, 0)), int(min(cx + w / 2 + pad, geo.size))
        sy0, sy1 = int(max(cy - h - pad, 0)), int(min(cy + h + pad, geo.size))
        strip = img[int(max(y0 - 1.2 * h, 0)):int(max(y0 - 0.5 * h, 1)), int(cx - w / 4):int(cx + w / 4)]
        skin = np.median(strip.reshape(-1, 3), axis=0)
        ys, xs = np.mgrid[sy0:sy1, sx0:sx1].astype(np.float32)
        ell = ((xs - cx) / (0.58 * w + 1)) ** 2 + ((ys - cy) / (0.85 * h + 1)) ** 2
        edge = cy - 0.85 * h + closure * 1.7 * h  # lower edge of the lid
        covered = ((ys < edge) & (ell < 1.0)).astype(np.float32)
        lashes = ((np.abs(ys - edge) < max(1.0, geo.size / 400)) & (ell < 1.0)).astype(np.float32)
        alpha = cv2.GaussianBlur(covered, (0, 0), max(0.7, geo.size / 600))[..., None]
        lash = cv2.GaussianBlur(lashes, (0, 0), max(0.5, geo.size / 900))[..., None] * closure
        patch = img[sy0:sy1, sx0:sx1].astype(np.float32)
        patch = patch * (1 - alpha) + skin * alpha
        patch = patch * (1 - lash) + np.array([60.0, 40.0, 35.0]) * lash
        img[sy0:sy1, sx0:sx1] = np.clip(patch, 0, 255).astype(np.uint8)


def head_affine(geo: Geometry, rotation_deg: float, translation: np.ndarray, scale: float) -> np.ndarray:
    """2x3 similarity (reference -> frame) about the nose tip."""
    c = geo.landmarks[30]
    M = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), rotation_deg, scale)
    M[:, 2] += translation
    return M


def render_head(geo: Geometry, opening: float, width_factor: float, closure: float,
                affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The animated head layer placed by `affine` and its mask (float 0..1), at the output size."""
    s = geo.size
    map_x, map_y, _ = jaw_maps(geo, opening, width_factor)
    head = cv2.remap(geo.head, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = cv2.remap(geo.mask, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    _paint_mouth(head, geo, opening, width_factor)
    _paint_blink(head, geo, closure)
    head = cv2.warpAffine(head, affine, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = cv2.warpAffine(mask, affine, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return head, mask


def render_frame(geo: Geometry, opening: float, width_factor: float, closure: float,
                 affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One demo frame and its head mask (float 0..1)."""
    head, mask = render_head(geo, opening, width_factor, closure, affine)
    m = mask[..., None]
    frame = geo.background.astype(np.float32) * (1 - m) + head.astype(np.float32) * m
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), mask


def demo_speech(seconds: float, seed: int, voice: str = "formant") -> tuple[Speech, dict]:
    """The demo's speech and extra truth arrays: voice "formant" (built-in syllables) or "espeak" (espeak-ng
    English sentences whose phone timings drive the mouth, gtalker.demo_voice; the phones go in the truth)."""
    if voice == "formant":
        return synthesize_speech(seconds, seed=seed), {}
    if voice == "espeak":
        from gtalker.demo_voice import phone_table, synthesize_espeak_speech

        speech, phones = synthesize_espeak_speech(seconds, seed)
        return speech, phone_table(phones)
    raise InputError(f"demo voice '{voice}': choose formant or espeak")


def make_truth(seconds: float, size: int, seed: int, fps: float = FPS,
               voice: str = "formant") -> tuple[dict, Speech]:
    """Every per-frame animation parameter (and the speech that drives the mouth)."""
    rng = np.random.default_rng(seed)
    speech, extra = demo_speech(seconds, int(rng.integers(0, 2**31)), voice)
    n = int(round(seconds * fps))
    opening = np.clip(_smooth(_per_frame(speech.openness, n, SAMPLE_RATE, fps), speech.smoothing), 0, 1)
    width = _smooth(_per_frame(speech.width, n, SAMPLE_RATE, fps), speech.smoothing)
    centres = np.clip(np.round((np.arange(n) + 0.5) * SAMPLE_RATE / fps).astype(int), 0, len(speech.vowel) - 1)
    vowel = speech.vowel[centres].astype(np.int16)
    motion_rng = np.random.default_rng(seed + 1)
    rotation = _smooth_noise(motion_rng, n, fps, 3.0)
    translation = np.stack([_smooth_noise(motion_rng, n, fps, 0.012 * size),
                            _smooth_noise(motion_rng, n, fps, 0.008 * size)], axis=1)
    scale = 1.0 + _smooth_noise(motion_rng, n, fps, 0.015)
    blink = _blinks(np.random.default_rng(seed + 2), n, fps)
    geo = build_geometry(size)
    affine = np.stack([head_affine(geo, rotation[i], translation[i], scale[i]) for i in range(n)])
    truth = {
        "mouth_open": opening.astype(np.float32), "mouth_width": width.astype(np.float32),
        "vowel": vowel, "blink": blink.astype(np.float32), "rotation_deg": rotation.astype(np.float32),
        "translation": translation.astype(np.float32), "scale": scale.astype(np.float32),
        "affine": affine.astype(np.float32), "head_mask_ref": (geo.mask > 0.5).astype(np.uint8),
        "landmarks_ref": geo.landmarks.astype(np.float32), "fps": np.float32(fps),
        "size": np.int32(size), "seed": np.int32(seed), "voice": np.array(voice), **extra,
    }
    return truth, speech


def truth_head_mask(truth: dict, i: int) -> np.ndarray:
    """Boolean head mask of frame i, at the demo's size."""
    geo_size = int(truth["size"])
    geo = build_geometry(geo_size)
    alpha = truth["head_alpha_ref"] if "head_alpha_ref" in truth else geo.mask  # a scene's own head layer
    map_x, map_y, _ = jaw_maps(geo, float(truth["mouth_open"][i]), float(truth["mouth_width"][i]))
    mask = cv2.remap(alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpAffine(mask, truth["affine"][i].astype(np.float64), (geo_size, geo_size),
                          flags=cv2.INTER_LINEAR)
    return mask > 0.5


def truth_landmarks(truth: dict, i: int) -> np.ndarray:
    """Approximate ground-truth 68 landmarks of frame i (jaw drop and lip spread applied, then the head
    motion)."""
    ref = truth["landmarks_ref"].astype(np.float64)
    lm = ref.copy()
    size = int(truth["size"])
    geo = Geometry(head=np.zeros((1, 1, 3), np.uint8), mask=np.zeros((1, 1), np.float32),
                   background=np.zeros((1, 1, 3), np.uint8), landmarks=ref, size=size)
    cx, cy, w0, chin = _mouth_params(geo)
    gap = float(truth["mouth_open"][i]) * 0.34 * w0
    fx = np.exp(-(((lm[:, 0] - cx) / (0.95 * w0)) ** 4))
    ramp = 1.0 + 0.6 * w0 * np.clip((np.abs(lm[:, 0] - cx) - 0.42 * w0) / (0.3 * w0), 0.0, 1.0)
    below = np.clip((lm[:, 1] - cy) / (2.0 * ramp) + 0.5, 0.0, 1.0)
    fade = np.exp(-np.clip(lm[:, 1] - chin, 0, None) ** 2 / (0.5 * (0.35 * w0) ** 2))
    lm[:, 1] += gap * fx * below * fade
    # The lips' spread moves x by (x - cx)(1 - 1/w) times the weight at the output point: solve for it.
    k = 1.0 - 1.0 / float(truth["mouth_width"][i])
    x = lm[:, 0].copy()
    for _ in range(20):
        x = lm[:, 0] + (x - cx) * k * lip_spread_weight(geo, x, lm[:, 1])
    lm[:, 0] = x
    A = truth["affine"][i].astype(np.float64)
    return lm @ A[:, :2].T + A[:, 2]


def make_demo(out_video: str | os.PathLike, out_truth: str | os.PathLike, seconds: float = 20.0,
              size: int = 512, seed: int = 0, fps: float = FPS, scene: str = "default",
              voice: str = "formant") -> None:
    """Write the demo mp4 (H.264 + AAC) and its ground-truth npz; scene 'hard' is gtalker.demo_scene's."""
    log = setup_logging("gtalker.demo")
    if size % 2:
        raise InputError(f"demo.size={size}: must be even (H.264 with yuv420p needs even sizes)")
    if scene != "default":
        from gtalker.demo_scene import SCENES, make_hard_demo

        if scene not in SCENES:
            raise InputError(f"demo.scene '{scene}': unknown; use one of {', '.join(SCENES)}")
        make_hard_demo(out_video, out_truth, seconds, size, seed)
        return
    truth, speech = make_truth(seconds, size, seed, fps, voice)
    n = len(truth["mouth_open"])
    log.info("demo: %d frames of %dx%d at %g fps, seed %d, %s voice", n, size, size, fps, seed, voice)
    geo = build_geometry(size)
    with tempfile.TemporaryDirectory() as tmpdir:
        wav = Path(tmpdir) / "speech.wav"
        write_wav(wav, speech.samples)
        with atomic_path(out_truth) as tmp_truth:
            with open(tmp_truth, "wb") as fh:
                np.savez_compressed(fh, **truth)
            with VideoWriter(out_video, size, size, fps=fps, audio=wav, crf=16) as writer:
                for i in tqdm(range(n), desc="demo frames", file=sys.stderr):
                    frame, _ = render_frame(geo, float(truth["mouth_open"][i]), float(truth["mouth_width"][i]),
                                            float(truth["blink"][i]), truth["affine"][i].astype(np.float64))
                    writer.write(frame)
    log.info("wrote %s and %s", out_video, out_truth)


@dataclass
class DemoConfig:
    """Settings of the demo video (config section `demo`); each field is a CLI flag (--speech-only uses
    seconds and seed)."""

    seconds: float = 20.0
    size: int = 512
    seed: int = 0
    scene: str = "default"  # or hard (gtalker.demo_scene: moving background, camera shake, flicker,
                            # low resolution, strong compression, 29.97 fps)
    voice: str = "espeak"  # espeak: espeak-ng sentences (gtalker.demo_voice); formant: built-in syllables


@reports_input_errors("gtalker.demo")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output mp4")
    ap.add_argument("--truth", required=True, help="output ground-truth npz")
    add_flags(ap, DemoConfig)
    ap.add_argument("--speech-only", action="store_true",
                    help="write only speech audio (wav) to --out; --truth gets its annotation")
    args = ap.parse_args(argv)
    setup_logging("gtalker.demo")
    cfg = from_args(args, DemoConfig)
    if args.speech_only:
        speech, extra = demo_speech(cfg.seconds, cfg.seed, cfg.voice)
        write_wav(args.out, speech.samples)
        with atomic_path(args.truth) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, vowel=speech.vowel, openness=speech.openness, **extra)
    else:
        make_demo(args.out, args.truth, cfg.seconds, cfg.size, cfg.seed, scene=cfg.scene, voice=cfg.voice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
