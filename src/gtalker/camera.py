"""Camera intrinsics for resized images: the one home of the pixel-centre rescaling rule.

Pixel (i, j) is centred at (j, i) (CONTRACTS.md), so resizing by s maps u to (u + 0.5) s - 0.5: the
focal lengths and skew scale by s, the principal point by that rule.
"""

from __future__ import annotations

import numpy as np


def scale_intrinsics(K, sx: float, sy: float | None = None):
    """3x3 intrinsics (numpy array or torch tensor) for an image resized by sx (and sy, default sx).

    A numpy K comes back as a float64 copy, a tensor as a clone of its dtype.
    """
    sy = sx if sy is None else sy
    out = K.clone() if hasattr(K, "clone") else np.array(K, dtype=np.float64, copy=True)
    out[0, 0] = K[0, 0] * sx
    out[1, 1] = K[1, 1] * sy
    out[0, 1] = K[0, 1] * sx
    out[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    out[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return out
