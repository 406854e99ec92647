"""Mouth landmarks for evaluation: dlib's HOG face detector and 68-point shape predictor.

Both the rendered and the real frame are measured inside the REAL frame's face box, so that a wrong
render cannot move the box. The 68-point model ships in the face-recognition-models wheel; it is located
with importlib (importing that package needs pkg_resources, which new setuptools lacks).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from gtalker.common import InputError

MOUTH = slice(48, 68)
INNER_PAIRS = ((61, 67), (62, 66), (63, 65))
EYE_CORNERS = (36, 45)
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def predictor_path() -> Path:
    """The 68-point dlib model inside the face-recognition-models package."""
    found = importlib.util.find_spec("face_recognition_models")
    if found is None or not found.submodule_search_locations:
        raise InputError("the dlib 68-point model is missing: pip install face-recognition-models dlib-bin")
    path = Path(list(found.submodule_search_locations)[0]) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise InputError(f"{path}: not found; reinstall face-recognition-models")
    return path


class MouthMeter:
    """Face boxes on real frames and 68 landmarks inside a given box (dlib)."""

    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(predictor_path()))

    def face_box(self, img: np.ndarray) -> tuple[int, int, int, int] | None:
        """The largest face (x0, y0, x1, y1) in an RGB frame, trying one upsampling if none is found."""
        for upsample in (0, 1):
            faces = list(self.detector(np.ascontiguousarray(img), upsample))
            if faces:
                best = max(faces, key=lambda r: r.width() * r.height())
                return best.left(), best.top(), best.right(), best.bottom()
        return None

    def landmarks(self, img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """68 (x, y) landmarks [68, 2] float32 predicted inside `box`."""
        rect = self._dlib.rectangle(*[int(v) for v in box])
        shape = self.predictor(np.ascontiguousarray(img), rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def mouth_distance(pred: np.ndarray, real: np.ndarray) -> float:
    """LMD of one frame: mean Euclidean distance of landmarks 48-67 (pixels)."""
    return float(np.linalg.norm(np.asarray(pred)[MOUTH] - np.asarray(real)[MOUTH], axis=1).mean())


def mouth_opening(lms: np.ndarray) -> float:
    """Inner-lip gap (mean of 61-67, 62-66, 63-65) over the outer eye-corner distance (36-45)."""
    lms = np.asarray(lms, dtype=np.float64)
    gap = np.mean([np.linalg.norm(lms[a] - lms[b]) for a, b in INNER_PAIRS])
    eyes = np.linalg.norm(lms[EYE_CORNERS[0]] - lms[EYE_CORNERS[1]])
    return float(gap / eyes) if eyes > 0 else float("nan")


def fill_boxes(boxes: list[Any]) -> list[tuple[int, int, int, int] | None]:
    """Replace missing boxes by the nearest frame's box (None everywhere if no frame has one)."""
    known = [i for i, b in enumerate(boxes) if b is not None]
    if not known:
        return [None] * len(boxes)
    return [boxes[min(known, key=lambda j: abs(j - i))] for i in range(len(boxes))]
