"""Face regions from 68 landmarks: face polygon, head ellipse, the region under the jaw, the neck band.

All functions take landmarks [68,2] in pixels and work for rolled heads: 'across' is the direction from
jaw point 0 to jaw point 16, 'down' is perpendicular to it, pointing to the chin.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

JAW = slice(0, 17)
BROWS = slice(17, 27)


@dataclass(frozen=True)
class FaceFrame:
    """Face-aligned axes and sizes measured from the landmarks."""

    across: np.ndarray   # unit vector jaw[0] -> jaw[16]
    down: np.ndarray     # unit vector towards the chin
    width: float         # jaw[0] to jaw[16] distance
    height: float        # brows to chin distance along `down`
    centre: np.ndarray   # midpoint of brows and chin


def face_frame(lms: np.ndarray) -> FaceFrame:
    """Axes and sizes of the face."""
    lms = np.asarray(lms, np.float64)
    vec = lms[16] - lms[0]
    width = float(np.linalg.norm(vec))
    across = vec / max(width, 1e-6)
    down = np.array([-across[1], across[0]])
    if np.dot(lms[8] - lms[27], down) < 0:  # chin must be 'down'
        down = -down
    brow = lms[BROWS].mean(0)
    height = float(np.dot(lms[8] - brow, down))
    return FaceFrame(across, down, max(width, 1.0), max(height, 1.0), (brow + lms[8]) / 2)


def face_polygon(lms: np.ndarray, forehead: float = 0.25) -> np.ndarray:
    """Jaw line plus the brows raised by `forehead` face heights: pixels surely on the head."""
    ff = face_frame(lms)
    brows = np.asarray(lms[BROWS], np.float64) - forehead * ff.height * ff.down
    return np.concatenate([np.asarray(lms[JAW], np.float64), brows[::-1]])


def outer_jaw(lms: np.ndarray, margin: float) -> np.ndarray:
    """Jaw points 0-16 moved outwards (away from the nose tip) by `margin` face widths."""
    ff = face_frame(lms)
    jaw = np.asarray(lms[JAW], np.float64)
    if margin == 0:
        return jaw
    vec = jaw - np.asarray(lms[30], np.float64)
    vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-6)
    return jaw + margin * ff.width * vec


def below_jaw_polygon(lms: np.ndarray, reach: float, margin: float = 0.0) -> np.ndarray:
    """Everything under the jaw line and under its continuation outwards from both jaw ends.

    `reach` (px) must exceed the image diagonal so the polygon covers the image below the line;
    `margin` (face widths) moves the jaw line outwards (landmarks sit on the jaw edge itself).
    """
    ff = face_frame(lms)
    jaw = outer_jaw(lms, margin)
    left = jaw[0] - 0.5 * ff.width * ff.across  # follow the jaw's direction for half a face width,
    right = jaw[16] + 0.5 * ff.width * ff.across  # then run level with the image rows
    far_left, far_right = left - [reach, 0.0], right + [reach, 0.0]
    down = np.array([0.0, reach])
    return np.concatenate([[far_left, left], jaw, [right, far_right, far_right + down, far_left + down]])


def torso_zone(shape: tuple[int, int], lms: np.ndarray, neck_depth: float) -> np.ndarray:
    """Where neck and torso can be: past the line (perpendicular to `down`) halfway between the nose tip
    and the chin (shoulders can rise above the chin, not to the nose) and, above it, the neck band under
    the jaw. Beside the upper jaw is head or background."""
    ff = face_frame(lms)
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mid = (np.asarray(lms[8], np.float64) + np.asarray(lms[30], np.float64)) / 2
    below = (xs - mid[0]) * ff.down[0] + (ys - mid[1]) * ff.down[1] >= 0
    return below | fill_polygon(shape, neck_polygon(lms, neck_depth))


def head_ellipse(lms: np.ndarray, grow: float = 1.0) -> tuple[tuple[float, float], tuple[float, float], float]:
    """OpenCV ellipse (centre, full axes, angle in degrees) around face and hair, scaled by `grow`."""
    ff = face_frame(lms)
    centre = ff.centre - 0.45 * ff.height * ff.down
    axes = (grow * 1.45 * ff.width, grow * 2.1 * ff.height)
    angle = float(np.degrees(np.arctan2(ff.across[1], ff.across[0])))
    return (float(centre[0]), float(centre[1])), (float(axes[0]), float(axes[1])), angle


def neck_polygon(lms: np.ndarray, depth: float) -> np.ndarray:
    """The band under the jaw (between jaw points 3 and 13) reaching `depth` face heights below."""
    ff = face_frame(lms)
    jaw = np.asarray(lms[3:14], np.float64)
    centre = jaw.mean(0)
    narrow = centre + 0.85 * (jaw - centre)  # the neck is narrower than the jaw
    bottom = narrow[::-1] + depth * ff.height * ff.down
    return np.concatenate([jaw, bottom])


def fill_polygon(shape: tuple[int, int], poly: np.ndarray, scale: float = 1.0,
                 offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Boolean mask of a polygon drawn at `scale` after subtracting `offset` (x, y)."""
    mask = np.zeros(shape, np.uint8)
    pts = np.round((np.asarray(poly, np.float64) - offset) * scale * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def ellipse_mask(shape: tuple[int, int], ellipse, scale: float = 1.0,
                 offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Boolean mask of an OpenCV ellipse drawn at `scale` after subtracting `offset`."""
    (cx, cy), (ax, ay), ang = ellipse
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, (((cx - offset[0]) * scale, (cy - offset[1]) * scale), (ax * scale, ay * scale), ang),
                1, -1)
    return mask.astype(bool)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with enclosed holes filled."""
    m = mask.astype(np.uint8)
    h, w = m.shape
    pad = np.zeros((h + 2, w + 2), np.uint8)
    pad[1:-1, 1:-1] = m
    flood = pad.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return mask | holes


def component_touching(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The connected components of mask that overlap seed."""
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask.copy()
    keep = np.unique(lab[seed & mask])
    keep = keep[keep > 0]
    return np.isin(lab, keep)
