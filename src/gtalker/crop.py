"""Where to cut the square out of a video: around the face, not blindly in the centre.

Ingest decodes a few frames spread over the passage at full resolution, finds the face in each with
dlib's HOG frontal detector (the same detector the face stage uses, called directly so that ingest does
not depend on the face stage), and chooses the square:
- its side is the frame's shorter side, unless the face is small in it (a lecture, a wide interview
  shot): then ZOOM face widths (median of the samples), but never less than the output size (no
  upscaling) nor than the extent of every sampled head (the face box grown by HEAD_MARGIN for hair, ears
  and chin);
- it is placed so that every sampled head is inside when they fit, around the median face otherwise
  (face centre at FACE_CENTRE of the square).
Without a face found, the centre square is kept; ingest takes a square source whole. `cut_share` says how much of a sampled face box the
square (or the frame's own edge) cuts, for a notice.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gtalker.common import InputError
from gtalker.io.audio import ffmpeg_exe

log = logging.getLogger("gtalker.crop")

# The head around dlib's face box (brows to chin), as fractions of the box's size: left, top, right, bottom.
HEAD_MARGIN = (0.35, 0.75, 0.35, 0.30)
# Where the face box's centre sits in the square when the head's extent does not decide it (fraction of
# the side from the top / left); the demo and the reference's datasets have the face a little above centre.
FACE_CENTRE = (0.5, 0.45)
CUT_TOLERANCE = 0.02  # share of a face box outside the square above which ingest records a notice
ZOOM = 4.0  # side of the square in face-box widths when the face is small in the frame (demo: 2.8)
DETECT_SIDE = 640  # longer side (px) the detector runs on; dlib's window is 80 px, so faces of ~1/8 frame


@dataclass(frozen=True)
class Crop:
    """A square (x0, y0, side) in source pixels (after the decoder's rotation)."""

    x0: int
    y0: int
    side: int
    method: str  # "face" or "centre"

    def box(self) -> np.ndarray:
        """(x0, y0, x1, y1) of the square."""
        return np.array([self.x0, self.y0, self.x0 + self.side, self.y0 + self.side], np.float64)


def centre_crop(width: int, height: int) -> Crop:
    """The centre square."""
    side = min(width, height)
    return Crop((width - side) // 2, (height - side) // 2, side, "centre")


def sample_times(duration: float, n: int) -> list[float]:
    """n times spread evenly over [0, duration) (centres of n equal parts)."""
    return [duration * (k + 0.5) / n for k in range(n)]


def decode_samples(video: str, times: list[float]) -> list[np.ndarray]:
    """Grey frames of `video` at the given times (seconds from the file's start), full resolution."""
    frames = []
    with tempfile.TemporaryDirectory(prefix="gtalker_crop_") as tmp:
        for k, t in enumerate(times):
            out = Path(tmp) / f"{k}.png"
            cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-ss", f"{t:.3f}", "-i", video,
                   "-map", "0:v:0", "-frames:v", "1", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            ok = proc.returncode == 0 and out.is_file()  # a time past the last frame decodes nothing
            img = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE) if ok else None
            if img is not None:
                frames.append(img)
    if not frames:
        raise InputError(f"{video}: no frame could be decoded to place the crop")
    return frames


def detect_face(gray: np.ndarray, detector: object | None = None) -> np.ndarray | None:
    """The largest frontal face (x0, y0, x1, y1) in a grey image, or None."""
    import dlib

    detector = detector or dlib.get_frontal_face_detector()
    factor = min(1.0, DETECT_SIDE / max(gray.shape))
    small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA) if factor < 1 else gray
    boxes: list[np.ndarray] = []
    for upsample in (0, 1):
        rects = detector(np.ascontiguousarray(small), upsample)
        boxes = [np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64) / factor for r in rects]
        if boxes:
            break
    if not boxes:
        return None
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))


def head_box(face: np.ndarray) -> np.ndarray:
    """The face box grown by HEAD_MARGIN (hair, ears, chin)."""
    w, h = face[2] - face[0], face[3] - face[1]
    ml, mt, mr, mb = HEAD_MARGIN
    return np.array([face[0] - ml * w, face[1] - mt * h, face[2] + mr * w, face[3] + mb * h])


def _place(length: int, side: int, lo: float, hi: float, centre: float, at: float) -> int:
    """Start of a window of `side` within [0, length) holding [lo, hi] if it fits, else around `centre`."""
    start = centre - at * side
    if hi - lo <= side:
        start = min(max(start, hi - side), lo)
    return int(round(min(max(start, 0), length - side)))


def crop_side(width: int, height: int, faces: list[np.ndarray], min_side: int) -> int:
    """The square's side (see the module docstring)."""
    full = min(width, height)
    heads = np.array([head_box(f) for f in faces])
    extent = max(heads[:, 2].max() - heads[:, 0].min(), heads[:, 3].max() - heads[:, 1].min())
    face_width = float(np.median([f[2] - f[0] for f in faces]))
    return int(round(min(full, max(ZOOM * face_width, extent, min_side))))


def choose_crop(width: int, height: int, faces: list[np.ndarray], min_side: int = 0) -> Crop:
    """The square around every sampled head (see the module docstring); `min_side` is the output size."""
    if not faces:
        return centre_crop(width, height)
    side = crop_side(width, height, faces, min_side)
    heads = np.array([head_box(f) for f in faces])
    centres = np.array([[(f[0] + f[2]) / 2, (f[1] + f[3]) / 2] for f in faces])
    cx, cy = np.median(centres, axis=0)
    x0 = _place(width, side, heads[:, 0].min(), heads[:, 2].max(), cx, FACE_CENTRE[0])
    y0 = _place(height, side, heads[:, 1].min(), heads[:, 3].max(), cy, FACE_CENTRE[1])
    return Crop(x0, y0, side, "face")


def cut_share(face: np.ndarray, crop: Crop) -> float:
    """Share of a face box's area that lies outside the crop."""
    c = crop.box()
    ix = max(0.0, min(face[2], c[2]) - max(face[0], c[0]))
    iy = max(0.0, min(face[3], c[3]) - max(face[1], c[1]))
    area = (face[2] - face[0]) * (face[3] - face[1])
    return float(1.0 - ix * iy / area) if area > 0 else 0.0


def find_crop(video: str, width: int, height: int, start: float, duration: float, min_side: int = 0,
              n_samples: int = 9) -> tuple[Crop, dict]:
    """The crop for a passage of `video` and a report: sampled faces, found count, worst cut share.
    `min_side` is the output size (the square is not made smaller than that)."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    frames = decode_samples(video, [start + t for t in sample_times(duration, n_samples)])
    faces = [f for f in (detect_face(g, detector) for g in frames) if f is not None]
    h, w = frames[0].shape
    if (w, h) != (width, height):
        log.info("%s: decoded frames are %dx%d (probe: %dx%d; rotated by the container)", video, w, h,
                 width, height)
    crop = choose_crop(w, h, faces, min_side)
    report = {"n_samples": len(frames), "n_faces": len(faces), "source_size": [w, h],
              "faces": [f.round(1).tolist() for f in faces],
              "max_cut": round(max((cut_share(f, crop) for f in faces), default=0.0), 4)}
    log.info("%s: crop %s at (%d, %d), side %d; faces found in %d of %d sampled frames", video, crop.method,
             crop.x0, crop.y0, crop.side, len(faces), len(frames))
    return crop, report
