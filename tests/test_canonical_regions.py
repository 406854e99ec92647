"""Face regions for per-region PSNR: disjoint parts of the head mask, unions, pooled PSNR and shares."""

from __future__ import annotations

import math

import numpy as np

from gtalker.canonical.regions import PARTS, RegionErrors, eye_boxes, head_regions


def disc(size: int, r: float) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size]
    return (xs - size / 2) ** 2 + (ys - size / 2) ** 2 < r * r


def face_landmarks(size: int) -> np.ndarray:
    """68 points at the image centre, with the eyes (36-47) as small hexagons left and right."""
    lms = np.full((68, 2), size / 2, dtype=np.float64)
    ring = np.stack([np.cos(np.arange(6) * np.pi / 3), 0.5 * np.sin(np.arange(6) * np.pi / 3)], axis=1) * 3
    lms[36:42] = ring + [size * 0.38, size * 0.42]
    lms[42:48] = ring + [size * 0.62, size * 0.42]
    return lms


def test_parts_are_disjoint_and_cover_the_head():
    size = 40
    head = disc(size, 15)
    hair = np.zeros_like(head)
    hair[:14] = True
    regions = head_regions(head, np.array([15, 24, 25, 32]), face_landmarks(size), hair, border_px=2)
    parts = [regions[p] for p in PARTS]
    total = np.sum(parts, axis=0)
    assert total.max() == 1 and np.array_equal(total == 1, head)
    assert not (regions["border"] & disc(size, 12)).any()  # the border is the outer ring only
    assert regions["border"][size // 2, size // 2 - 14]
    mouth_box = np.zeros_like(head)
    mouth_box[24:32, 15:25] = True
    assert np.array_equal(regions["mouth"], mouth_box & head & ~regions["border"])
    assert np.array_equal(regions["head_no_mouth"], head & ~mouth_box)
    assert regions["eyes"][int(size * 0.42), int(size * 0.38)] and regions["eyes"][int(size * 0.42), int(size * 0.62)]
    assert regions["hair"].any() and not (regions["hair"] & regions["eyes"]).any()


def test_optional_regions_are_left_out():
    head = disc(32, 12)
    regions = head_regions(head, np.array([10, 18, 22, 26]))
    assert "eyes" not in regions and "hair" not in regions
    assert np.array_equal(regions["border"] | regions["mouth"] | regions["face_rest"], head)


def test_eye_boxes_are_clipped():
    lms = face_landmarks(20)
    lms[36:42] -= [10, 10]  # the left eye partly off the image
    boxes = eye_boxes(lms, 20)
    assert boxes.shape == (20, 20) and boxes[0, 0]


def test_region_errors_pool_psnr_and_shares():
    target = np.zeros((4, 4, 3))
    pred = np.zeros((4, 4, 3))
    pred[0, 0] = 0.1  # error only in the first pixel
    a = np.zeros((4, 4), bool)
    a[0, :2] = True
    b = np.zeros((4, 4), bool)
    b[2:, :] = True
    errs = RegionErrors()
    errs.add(pred, target, {"a": a, "b": b, "head": a | b})
    errs.add(target, target, {"a": a, "b": b, "head": a | b})
    psnr = errs.psnr()
    assert math.isclose(psnr["a"], -10 * math.log10(0.01 * 3 / (2 * 2 * 3)))
    assert psnr["b"] == 100.0  # no error: the MSE floor of gtalker.imaging (1e-10), not infinity
    assert math.isclose(psnr["head"], -10 * math.log10(0.01 * 3 / (10 * 2 * 3)))
    assert errs.share() == {"a": 1.0, "b": 0.0, "head": 1.0}
    assert errs.pixels() == {"a": 2.0, "b": 8.0, "head": 10.0}
