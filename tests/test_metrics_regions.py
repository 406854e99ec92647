"""Face-box and head-mask metrics: a doubled (misregistered) or smeared face scores clearly worse than a
sharp one, inside the face, even where the full-frame figures barely move."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gtalker.common import write_json
from gtalker.io.audio import write_wav
from gtalker.io.frames import frame_path, write_image
from gtalker.metrics.__main__ import main as metrics_main
from gtalker.imaging import psnr as _psnr
from gtalker.imaging import ssim as _ssim
from gtalker.metrics.regions import hull_mask, masked_ssim, region_crops, region_metrics

N, VAL = 22, list(range(10, 22))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return _psnr(a, b, data_range=255.0)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return _ssim(a, b, data_range=255.0, border="valid")


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A real face (skimage's astronaut) in a 384 px frame and its head mask (landmark hull, grown)."""
    from skimage.data import astronaut

    from gtalker.metrics.landmarks import MouthMeter

    frame = np.ascontiguousarray(cv2.resize(astronaut(), (384, 384), interpolation=cv2.INTER_AREA))
    meter = MouthMeter()
    box = meter.face_box(frame)
    assert box is not None
    head = hull_mask(meter.landmarks(frame, box), frame.shape[:2])
    head = cv2.dilate(head.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    return frame, head


def _doubled(frame: np.ndarray, head: np.ndarray, shift: int = 10) -> np.ndarray:
    """The head shown twice (half-transparent copy `shift` px to the side), the rest untouched."""
    twice = (frame.astype(np.float32) + np.roll(frame, shift, axis=1)) / 2
    return np.where(head[..., None], np.round(twice), frame).astype(np.uint8)


def _smeared(frame: np.ndarray, head: np.ndarray) -> np.ndarray:
    return np.where(head[..., None], cv2.GaussianBlur(frame, (0, 0), 4), frame)


def _noisy(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.round(frame + rng.normal(0, 3, frame.shape)), 0, 255).astype(np.uint8)


def test_region_helpers() -> None:
    pts = np.array([[10, 10], [50, 10], [50, 40], [10, 40], [30, 25]], np.float32)
    m = hull_mask(pts, (64, 64))
    assert m[25, 30] and not m[5, 5] and 1100 < m.sum() < 1400
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert masked_ssim(img, img, m) == pytest.approx(1.0)
    noisy = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    from gtalker.imaging import ssim_map

    full = ssim_map(*(torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[None] for x in (noisy, img)),
                    data_range=255.0, border="valid")[0].mean(dim=0).numpy()
    edge = np.zeros((64, 64), bool)
    edge[0:12, 40:64] = True  # a region at the image's corner
    for region in (m, edge):
        assert masked_ssim(noisy, img, region) == pytest.approx(full[region[5:-5, 5:-5]].mean(), abs=1e-9)
    other = img.copy()
    other[~m] = 0  # outside the region changes nothing inside it
    assert region_metrics(other, img, m)["psnr"] > 100
    rend, tgt = region_crops(other, img, m)
    assert rend.shape == tgt.shape and min(rend.shape[:2]) >= 64 and np.array_equal(rend, tgt)
    assert np.isnan(region_metrics(img, img, np.zeros((64, 64), bool))["psnr"])


def test_doubled_and_smeared_faces_score_clearly_worse_inside_the_face() -> None:
    frame, head = _scene()
    rng = np.random.default_rng(1)
    sharp = _noisy(frame, rng)
    face = hull_mask(_landmarks(frame), frame.shape[:2])
    for bad in (_doubled(sharp, head), _smeared(sharp, head)):
        good_face = region_metrics(sharp, frame, face)
        bad_face = region_metrics(bad, frame, face)
        assert bad_face["psnr"] < good_face["psnr"] - 8
        assert bad_face["ssim"] < good_face["ssim"] - 0.15
        # over the full frame the same failure costs much less
        assert psnr(sharp, frame) - psnr(bad, frame) < good_face["psnr"] - bad_face["psnr"]
        assert ssim(sharp, frame) - ssim(bad, frame) < good_face["ssim"] - bad_face["ssim"]


def _landmarks(frame: np.ndarray) -> np.ndarray:
    from gtalker.metrics.landmarks import MouthMeter

    meter = MouthMeter()
    return meter.landmarks(frame, meter.face_box(frame))


@pytest.fixture(scope="module")
def passage(tmp_path_factory) -> Path:
    """A validation passage of a real face with its parsing (head = 1) and two renders: sharp (noise
    sigma 3) and misregistered (the head doubled, 10 px apart)."""
    root = tmp_path_factory.mktemp("regions")
    frame, head = _scene()
    rng = np.random.default_rng(0)
    for sub in ("frames", "gt", "parsing", "sharp", "doubled"):
        (root / sub).mkdir()
    for i in range(N):
        shifted = np.roll(frame, i % 3, axis=1)
        mask = np.roll(head, i % 3, axis=1)
        write_image(frame_path(root / "frames", i), shifted, 100)
        write_image(frame_path(root / "gt", i, ".png"), shifted)
        write_image(frame_path(root / "parsing", i, ".png"), mask.astype(np.uint8))
        if i in VAL:
            sharp = _noisy(shifted, rng)
            write_image(frame_path(root / "sharp", i, ".png"), sharp)
            write_image(frame_path(root / "doubled", i, ".png"), _doubled(sharp, mask))
    write_json(root / "split.json", {"train": list(range(10)), "val": VAL})
    write_json(root / "frames.json", {"n_frames": N, "fps": 25, "size": 384, "source": "test"})
    write_wav(root / "audio.wav", rng.normal(0, 0.1, N * 640))
    return root


def _evaluate(root: Path, render: str, out: Path) -> dict:
    args = ["evaluate", "--rendered", str(root / render), "--real", str(root / "frames"), "--gt",
            str(root / "gt"), "--parsing", str(root / "parsing"), "--split", str(root / "split.json"),
            "--audio", str(root / "audio.wav"), "--frames-json", str(root / "frames.json"),
            "--lpips-alexnet", str(out.parent / "none.pth"), "--syncnet-model", str(out.parent / "none.model"),
            "--device", "cpu", "--max-offset", "3", "--out", str(out)]
    assert metrics_main(args) == 0
    return json.loads(out.read_text())


def test_misregistered_render_scores_clearly_worse(passage: Path, tmp_path: Path) -> None:
    sharp = _evaluate(passage, "sharp", tmp_path / "sharp.json")
    doubled = _evaluate(passage, "doubled", tmp_path / "doubled.json")
    for m in (sharp, doubled):
        assert "face" not in m["null_reasons"] and "head" not in m["null_reasons"]
        assert len(m["per_frame"]["psnr_face"]) == len(VAL)
    assert sharp["psnr_face"] == pytest.approx(20 * np.log10(255 / 3), abs=1.0)
    assert doubled["psnr_face"] < sharp["psnr_face"] - 8
    assert doubled["psnr_head"] < sharp["psnr_head"] - 8
    assert doubled["ssim_face"] < sharp["ssim_face"] - 0.15
    full_drop = sharp["psnr"] - doubled["psnr"]
    assert full_drop < sharp["psnr_face"] - doubled["psnr_face"]
    assert doubled["lpips_face"] is None and "lpips" in doubled["null_reasons"]
