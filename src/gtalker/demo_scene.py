"""The demo's hard scene (`demo.scene: hard`): the default demo's talking head filmed as real footage is.

Against the default scene (a still photo behind a head that turns only in the image plane), this scene
adds what real clips have:
- a background that moves: a wide strip of other photos (scikit-image's coffee, chelsea, rocket) pans
  behind the person, back and forth, like scenery passing a car window;
- the body (neck, suit) as its own layer over that background, so the person is not the static part;
- camera shake: a small similarity (a few px, under a degree) that moves the whole picture, 1-5 Hz;
- lighting flicker: a slow gain drift plus frame-to-frame flicker and a colour cast, per channel;
- a low source resolution (`source_scale` of the output size) upscaled, and strong H.264 compression;
- 29.97 fps (30000/1001), so ingest resamples it to `preprocess.fps`.
No out-of-plane head turns: from one photo they cannot be rendered truthfully.

The truth has the default scene's keys, with the head pose as seen in the frame (camera shake included:
`affine` = camera o head motion, and rotation/translation/scale recomputed from it), so
`gtalker.demo.truth_head_mask` / `truth_landmarks` hold as they are; plus `camera` [N,2,3] (world ->
frame), `pan_px` [N] (background offset), `gain` [N,3], `head_alpha_ref` [H,W] (the head layer: the default
head polygon less the photo's plain backdrop), `body_mask_ref` [H,W] (body layer, before the camera),
`source_size` and `scene`. `resample_truth` maps it to the ingested frame rate.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gtalker.common import SAMPLE_RATE, atomic_path, setup_logging
from gtalker.demo import Geometry, build_geometry, make_truth, render_head
from gtalker.face.regions import component_touching, face_polygon, fill_holes, fill_polygon
from gtalker.io.audio import write_wav
from gtalker.io.video import VideoWriter

SCENES = ("default", "hard")
HARD_FPS = 30000 / 1001
# Body layer outline (neck and suit) in the output image at size 512, scaled for other sizes.
_BODY_512 = np.array([[0, 512], [0, 430], [25, 390], [45, 335], [80, 305], [130, 290], [172, 288],
                      [185, 250], [325, 250], [338, 288], [400, 305], [450, 360], [512, 400],
                      [512, 512]], dtype=np.float64)
_STRIP_IMAGES = ("coffee", "chelsea", "rocket")
# The truth's per-frame keys (the rest describe the reference image or the whole video).
PER_FRAME = ("mouth_open", "mouth_width", "vowel", "blink", "rotation_deg", "translation", "scale", "affine",
             "camera", "pan_px", "gain")


@dataclass(frozen=True)
class HardScene:
    """Settings of the hard scene."""

    fps: float = HARD_FPS
    source_scale: float = 0.375   # the source resolution as a share of the output size (upscaled)
    crf: int = 33                 # H.264 quality (the default scene uses 16)
    pan_speed: float = 0.12       # background pan, output widths per second
    shake_px: float = 0.006       # camera shake amplitude, output widths
    shake_deg: float = 0.5        # camera shake rotation amplitude, degrees
    flicker: float = 0.05         # frame-to-frame gain flicker (relative)
    drift: float = 0.12           # slow gain drift (relative)


def _soft(mask: np.ndarray, size: int) -> np.ndarray:
    """A boolean mask as a float 0..1 mask with a soft edge (as the default scene's head mask)."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.6, size / 512))


def backdrop_distance(geo: Geometry) -> np.ndarray:
    """Mahalanobis distance (CIELAB) of every photo pixel to the photo's plain backdrop, sampled beside
    and above the head."""
    s = geo.size
    lab = cv2.cvtColor(geo.head, cv2.COLOR_RGB2LAB).astype(np.float64)
    grown = cv2.dilate((geo.mask > 0.5).astype(np.uint8), np.ones((max(3, s // 32),) * 2, np.uint8)).astype(bool)
    rows = np.arange(s)[:, None] < 0.45 * s
    px = lab[~grown & rows]
    d = lab - px.mean(0)
    icov = np.linalg.inv(np.cov(px.T) + np.eye(3) * 4.0)
    return np.sqrt(np.einsum("...i,ij,...j->...", d, icov, d))


def matte(region: np.ndarray, backdrop: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """`region` less the backdrop-coloured pixels connected to its outline (`keep` stays)."""
    k = np.ones((3, 3), np.uint8)
    plain = backdrop & region & ~keep
    outline = region & ~cv2.erode(region.astype(np.uint8), k).astype(bool)
    n, lab = cv2.connectedComponents(plain.astype(np.uint8), connectivity=8)
    cut = np.isin(lab, np.unique(lab[outline & plain])) & plain if n > 1 else plain
    out = region & ~cut
    out = cv2.morphologyEx(out.astype(np.uint8), cv2.MORPH_OPEN, k).astype(bool) | keep
    return fill_holes(component_touching(out, keep) if keep.any() else out)


def scene_layers(geo: Geometry) -> tuple[Geometry, np.ndarray]:
    """The head layer cut to the hair's own outline (the default scene's head polygon also holds some of
    the photo's plain backdrop, invisible there, a halo over a moving background) and the body mask."""
    s = geo.size
    backdrop = backdrop_distance(geo) < 4.0
    face = fill_polygon((s, s), face_polygon(geo.landmarks, 0.25))
    head = matte(geo.mask > 0.5, backdrop, face)
    body_poly = np.zeros((s, s), np.uint8)
    cv2.fillPoly(body_poly, [np.round(_BODY_512 * s / 512 * 16).astype(np.int32)], 1, shift=4)
    neck = fill_polygon((s, s), np.array([[0.36, 0.49], [0.64, 0.49], [0.64, 0.62], [0.36, 0.62]]) * s)
    body = matte(body_poly.astype(bool), backdrop, neck & body_poly.astype(bool))
    return replace(geo, mask=_soft(head, s)), _soft(body, s)


def background_strip(height: int) -> np.ndarray:
    """A wide RGB strip of photos, `height` tall, to pan behind the person."""
    import skimage.data

    parts = []
    for name in _STRIP_IMAGES:
        img = getattr(skimage.data, name)()[..., :3]
        w = int(round(img.shape[1] * height / img.shape[0]))
        parts.append(cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA))
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def _band_noise(rng: np.random.Generator, n: int, fps: float, lo: float, hi: float, k: int = 5) -> np.ndarray:
    """Sum of k sinusoids with frequencies in [lo, hi] Hz and random phases, scaled to about +-1."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for _ in range(k):
        out += np.sin(2 * np.pi * rng.uniform(lo, hi) * t + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.5, 1)
    return out / (0.75 * k) * 1.5


def _triangle(x: np.ndarray, period: float) -> np.ndarray:
    """Back-and-forth position in [0, period] for a forward position x."""
    m = np.mod(x, 2 * period)
    return np.where(m <= period, m, 2 * period - m)


def camera_motion(n: int, size: int, scene: HardScene, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: camera affine [N,2,3] (world -> frame), background pan [N] px and gain [N,3]."""
    rng = np.random.default_rng(seed + 7)
    dx = _band_noise(rng, n, scene.fps, 1.0, 5.0) * scene.shake_px * size
    dy = _band_noise(rng, n, scene.fps, 1.0, 5.0) * scene.shake_px * size
    rot = _band_noise(rng, n, scene.fps, 0.7, 4.0) * scene.shake_deg
    c = (size - 1) / 2.0
    camera = np.stack([cv2.getRotationMatrix2D((c, c), float(rot[i]), 1.0) + [[0, 0, dx[i]], [0, 0, dy[i]]]
                       for i in range(n)])
    speed = scene.pan_speed * size * (1 + 0.5 * _band_noise(rng, n, scene.fps, 0.05, 0.3, 3))
    pan = np.cumsum(speed / scene.fps)
    slow = _band_noise(rng, n, scene.fps, 0.05, 0.4, 3) * scene.drift
    fast = rng.standard_normal(n) * scene.flicker
    cast = np.stack([_band_noise(rng, n, scene.fps, 0.05, 0.3, 2) * 0.04 for _ in range(3)], axis=1)
    gain = (1 + slow + fast)[:, None] * (1 + cast)
    return camera, pan, gain.astype(np.float32)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine `outer o inner`."""
    return outer[:, :2] @ inner + np.concatenate([np.zeros((2, 2)), outer[:, 2:]], axis=1)


def hard_truth(seconds: float, size: int, seed: int, scene: HardScene) -> tuple[dict, object]:
    """The default truth with the camera folded into the head pose, plus the scene's own motion."""
    truth, speech = make_truth(seconds, size, seed, scene.fps)
    geo, body = scene_layers(build_geometry(size))
    n = len(truth["mouth_open"])
    camera, pan, gain = camera_motion(n, size, scene, seed)
    affine = np.stack([_compose(camera[i], truth["affine"][i].astype(np.float64)) for i in range(n)])
    nose = truth["landmarks_ref"][30].astype(np.float64)
    lin = affine[:, :, :2]
    truth["affine"] = affine.astype(np.float32)
    truth["rotation_deg"] = np.degrees(np.arctan2(lin[:, 1, 0], lin[:, 0, 0])).astype(np.float32) * -1
    truth["scale"] = np.sqrt(np.abs(np.linalg.det(lin))).astype(np.float32)
    truth["translation"] = (affine @ np.append(nose, 1.0) - nose).astype(np.float32)
    truth.update(camera=camera.astype(np.float32), pan_px=pan.astype(np.float32), gain=gain,
                 head_mask_ref=(geo.mask > 0.5).astype(np.uint8), head_alpha_ref=geo.mask.astype(np.float32),
                 body_mask_ref=(body > 0.5).astype(np.uint8),
                 source_size=np.int32(round(size * scene.source_scale)), scene=np.array("hard"),
                 fps=np.float64(scene.fps))
    return truth, speech


def render_hard_frame(geo: Geometry, truth: dict, i: int, strip: np.ndarray, body: np.ndarray,
                      margin: int, source_size: int) -> np.ndarray:
    """Frame i of the hard scene (RGB uint8 at the output size)."""
    s = geo.size
    camera = truth["camera"][i].astype(np.float64)
    period = strip.shape[1] - s - 2 * margin
    offset = float(_triangle(np.array(truth["pan_px"][i]), period)) + margin
    to_world = np.array([[1.0, 0, -offset], [0, 1.0, -margin]])
    frame = cv2.warpAffine(strip, _compose(camera, to_world), (s, s), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    layer = cv2.warpAffine(geo.background, camera, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    alpha = cv2.warpAffine(body, camera, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[..., None]
    frame = frame * (1 - alpha) + layer.astype(np.float32) * alpha
    head, mask = render_head(geo, float(truth["mouth_open"][i]), float(truth["mouth_width"][i]),
                             float(truth["blink"][i]), truth["affine"][i].astype(np.float64))
    m = mask[..., None]
    frame = (frame * (1 - m) + head.astype(np.float32) * m) * truth["gain"][i]
    small = cv2.resize(np.clip(frame + 0.5, 0, 255).astype(np.uint8), (source_size, source_size),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (s, s), interpolation=cv2.INTER_CUBIC)


def make_hard_demo(out_video: str | Path, out_truth: str | Path, seconds: float = 20.0, size: int = 512,
                   seed: int = 0, scene: HardScene | None = None) -> None:
    """Write the hard scene's mp4 (H.264 + AAC at 29.97 fps) and its ground-truth npz."""
    log = setup_logging("gtalker.demo")
    scene = scene or HardScene()
    truth, speech = hard_truth(seconds, size, seed, scene)
    n = len(truth["mouth_open"])
    log.info("demo (hard scene): %d frames of %dx%d at %.3f fps from a %d px source, seed %d", n, size, size,
             scene.fps, int(truth["source_size"]), seed)
    geo, body = scene_layers(build_geometry(size))
    margin = int(np.ceil(3 * scene.shake_px * size + 0.02 * size)) + 2
    strip = background_strip(size + 2 * margin)
    with tempfile.TemporaryDirectory() as tmpdir:
        wav = Path(tmpdir) / "speech.wav"
        # n frames last a little longer than `seconds` at 29.97 fps: pad the audio so that -shortest keeps them all
        pad = int(np.ceil((n / scene.fps - seconds) * SAMPLE_RATE)) + SAMPLE_RATE // 10
        write_wav(wav, np.concatenate([speech.samples, np.zeros(max(pad, 0), np.float32)]))
        with atomic_path(out_truth) as tmp_truth:
            with open(tmp_truth, "wb") as fh:
                np.savez_compressed(fh, **truth)
            with VideoWriter(out_video, size, size, fps=scene.fps, audio=wav, crf=scene.crf) as writer:
                for i in tqdm(range(n), desc="demo frames (hard)", file=sys.stderr):
                    writer.write(render_hard_frame(geo, truth, i, strip, body, margin, int(truth["source_size"])))
    log.info("wrote %s and %s", out_video, out_truth)


def source_frame(k: int | np.ndarray, source_fps: float, fps: float) -> np.ndarray:
    """Index of the source frame that ingest (ffmpeg's fps filter, round=near) keeps as frame k at `fps`:
    the last source frame whose time, rounded to the output rate, is at most k."""
    k = np.asarray(k, np.float64)
    return (np.ceil((k + 0.5) * source_fps / fps - 1e-9) - 1).astype(int)


def resample_truth(truth: dict, fps: float) -> dict:
    """The truth per ingested frame at `fps` (per-frame arrays picked with `source_frame`)."""
    src_fps = float(truth["fps"])
    n = len(truth["mouth_open"])
    if abs(src_fps - fps) < 1e-6:
        return dict(truth)
    count = int(round(n * fps / src_fps))
    idx = np.clip(source_frame(np.arange(count), src_fps, fps), 0, n - 1)
    out = {k: (np.asarray(v)[idx] if k in PER_FRAME else v) for k, v in truth.items()}
    out["fps"] = np.float64(fps)
    out["source_index"] = idx
    return out
