"""A generic rigid 3D template of the 68 landmarks (iBUG 300-W order), for cameras without a face model.

TEMPLATE_MM is one fixed average face: no identity, no expression, nothing fitted per video. It was
derived once from the mean shape's landmark vertices of the builtin face model
(resources/face_models/builtin.npz) and is shipped here as numbers, so that the landmark-camera path
(gtalker.fit.rigid) reads no face-model file; tests/test_fit_rigid.py checks that the two still agree.
Frame and units as the face models (gtalker.fit.facemodel): millimetres here (metres from `template()`),
x = the subject's left, y up, z out of the face.

`pose_weights`: the landmarks that carry the head pose and their weights. The mouth, the nose base and
the eyelids move with speech and blinks and are left out (weight 0), and so is the whole jaw contour:
it slides along the face outline in 2D detectors and its upper part still follows the jaw (on the
default demo, weighing 0-2 and 14-16 by 0.25 doubled the roll and translation errors and tied the
pitch to the mouth opening, r = -0.68; benchmarks/landmark_cameras.py). The brows move with expression
(0.5); the nose bridge and tip and the eye corners are rigid (1).
"""

from __future__ import annotations

import numpy as np

TEMPLATE_MM = np.array([
    (-70.0, 1.0, 25.0), (-69.0, -17.0, 28.0), (-67.0, -35.0, 33.0), (-63.0, -52.0, 40.0),
    (-57.0, -68.0, 49.0), (-48.0, -84.0, 60.0), (-36.0, -98.0, 72.0), (-20.0, -109.0, 83.0),
    (0.0, -114.0, 89.0), (20.0, -109.0, 83.0), (36.0, -98.0, 72.0), (48.0, -84.0, 60.0),
    (57.0, -68.0, 49.0), (63.0, -52.0, 40.0), (67.0, -35.0, 33.0), (69.0, -17.0, 28.0),
    (70.0, 1.0, 25.0), (-53.0, 17.0, 69.0), (-44.0, 23.0, 79.0), (-33.0, 26.0, 86.0),
    (-22.0, 25.0, 90.0), (-11.0, 22.0, 93.0), (11.0, 22.0, 93.0), (22.0, 25.0, 90.0),
    (33.0, 26.0, 86.0), (44.0, 23.0, 79.0), (53.0, 17.0, 69.0), (0.0, 5.0, 96.0),
    (0.0, -9.5, 104.0), (0.0, -24.0, 112.0), (0.0, -38.5, 120.0), (-14.0, -43.0, 100.0),
    (-7.5, -45.5, 103.0), (0.0, -47.0, 105.0), (7.5, -45.5, 103.0), (14.0, -43.0, 100.0),
    (-45.0, 4.0, 76.0), (-35.5, 8.5, 82.0), (-25.5, 8.5, 84.5), (-16.0, 3.0, 85.0),
    (-25.5, -0.5, 84.0), (-35.5, -0.5, 81.5), (16.0, 3.0, 85.0), (25.5, 8.5, 84.5),
    (35.5, 8.5, 82.0), (45.0, 4.0, 76.0), (35.5, -0.5, 81.5), (25.5, -0.5, 84.0),
    (-25.0, -67.0, 92.0), (-16.0, -62.0, 99.0), (-7.0, -58.5, 104.0), (0.0, -59.5, 105.5),
    (7.0, -58.5, 104.0), (16.0, -62.0, 99.0), (25.0, -67.0, 92.0), (17.0, -73.0, 97.0),
    (8.5, -76.0, 100.5), (0.0, -77.0, 102.0), (-8.5, -76.0, 100.5), (-17.0, -73.0, 97.0),
    (-21.0, -67.0, 94.5), (-8.0, -66.0, 102.0), (0.0, -66.0, 103.5), (8.0, -66.0, 102.0),
    (21.0, -67.0, 94.5), (8.0, -67.0, 101.5), (0.0, -67.0, 103.0), (-8.0, -67.0, 101.5),
])

# The box of a generic whole head (forehead and back of the head included) in the template's frame, mm:
# the builtin mean mesh's bounding box, derived once like the template. Random initial points fill it.
HEAD_BOX_MM = np.array([(-89.0, -118.0, -97.0), (89.0, 115.0, 120.0)])

NOSE_TIP = 30


def pose_weights() -> np.ndarray:
    """Per-landmark weights [68] of the pose fit (see the module docstring)."""
    w = np.zeros(68)
    w[17:27] = 0.5                       # brows
    w[27:31] = 1.0                       # nose bridge and tip
    w[[36, 39, 42, 45]] = 1.0            # eye corners
    return w


def template() -> np.ndarray:
    """The template [68,3] in metres."""
    return TEMPLATE_MM / 1000.0


def head_box() -> np.ndarray:
    """(lo, hi) [2,3] of the generic head box in metres."""
    return HEAD_BOX_MM / 1000.0
