"""Plausibility figures of a parsing label map that need no ground truth, and its IoU when there is one.

- `head_beyond_hull`: the share of head pixels farther than `reach` face heights from the convex hull of
  the 68 landmarks (hair reaches about half a face height past the brows; background taken for head
  shows up here);
- `torso_above_nose`: the share of torso pixels above the nose tip's row (the torso starts under the
  chin; a band beside the jaw labelled torso shows up here);
- `head_iou`: intersection over union of the head label with a true head mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from gtalker.face.regions import face_frame

HEAD, TORSO = 1, 3
REACH = 0.8  # face heights


def hull_distance(shape: tuple[int, int], lms: np.ndarray) -> np.ndarray:
    """Distance (px) of every pixel to the convex hull of the landmarks (0 inside)."""
    outside = np.full(shape, 255, np.uint8)
    hull = cv2.convexHull(np.round(np.asarray(lms, np.float64)).astype(np.int32))
    cv2.fillConvexPoly(outside, hull, 0)
    return cv2.distanceTransform(outside, cv2.DIST_L2, 5)


def head_beyond_hull(labels: np.ndarray, lms: np.ndarray, reach: float = REACH) -> float:
    """Share of the head label farther than `reach` face heights from the landmarks' convex hull."""
    head = labels == HEAD
    if not head.any():
        return 0.0
    far = hull_distance(labels.shape, lms) > reach * face_frame(lms).height
    return float((head & far).sum() / head.sum())


def torso_above_nose(labels: np.ndarray, lms: np.ndarray) -> float:
    """Share of the torso label in rows above the nose tip (landmark 30)."""
    torso = labels == TORSO
    if not torso.any():
        return 0.0
    row = int(np.floor(float(lms[30, 1])))
    return float(torso[:max(row, 0)].sum() / torso.sum())


def head_iou(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """(IoU, precision, recall) of the head label against a boolean true head mask."""
    head = labels == HEAD
    inter = float((head & truth).sum())
    union = float((head | truth).sum())
    return inter / max(union, 1.0), inter / max(float(head.sum()), 1.0), inter / max(float(truth.sum()), 1.0)
