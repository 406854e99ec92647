"""Background-motion report: near zero for the demo's still scene, far above the threshold when the
background pans; the notice reaches warnings.json and the summary; per-frame background behind the torso."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gtalker.demo import build_geometry, make_truth, render_frame
from gtalker.face import background, torso
from gtalker.face.motion import MotionMeter, background_region, noise_sigma
from gtalker.io.frames import frame_path, read_image, write_image
from gtalker.notices import gather, summary_lines

N, SIZE = 16, 192


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour texture (scenery)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 6, width // 6, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), (0, 0), 1.0)


def scene(root: Path, pan_px: float = 0.0, shake_px: float = 0.0) -> tuple[Path, Path]:
    """Demo frames (JPEG) with the true head mask as parsing (1 head, 0 background); with pan_px the
    background slides that far per frame, with shake_px the whole frame jitters."""
    frames, parsing = root / "frames", root / "parsing"
    frames.mkdir(parents=True)
    parsing.mkdir()
    truth, _ = make_truth(N / 25 + 0.04, SIZE, seed=1)
    geo = build_geometry(SIZE)
    scenery = texture(SIZE * 3, SIZE)
    rng = np.random.default_rng(2)
    for i in range(N):
        img, mask = render_frame(geo, float(truth["mouth_open"][i]), float(truth["mouth_width"][i]),
                                 float(truth["blink"][i]), truth["affine"][i].astype(np.float64))
        if pan_px:
            x = int(round(i * pan_px))
            m = mask[..., None]
            img = np.round(img * m + scenery[:, x:x + SIZE] * (1 - m)).astype(np.uint8)
        if shake_px:
            d = rng.uniform(-shake_px, shake_px, 2)
            M = np.float32([[1, 0, d[0]], [0, 1, d[1]]])
            img = cv2.warpAffine(img, M, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT)
            mask = cv2.warpAffine(mask, M, (SIZE, SIZE))
        write_image(frame_path(frames, i), img, 92)
        write_image(frame_path(parsing, i, ".png"), (mask > 0.5).astype(np.uint8))
    return frames, parsing


def run_background(root: Path, frames: Path, parsing: Path, mode: str = "auto") -> dict:
    args = ["--frames", str(frames), "--parsing", str(parsing), "--out", str(root / "bc.jpg"),
            "--report", str(root / "background.json"), "--notices", str(root / "notices.json"), "--mode", mode]
    assert background.main(args) == 0
    return json.loads((root / "background.json").read_text())


def test_noise_and_region_helpers() -> None:
    rng = np.random.default_rng(0)
    flat = np.full((128, 128), 120.0)
    assert noise_sigma(np.clip(flat + rng.normal(0, 4, flat.shape), 0, 255)) == pytest.approx(4, rel=0.15)
    labels = np.zeros((40, 40), np.uint8)
    labels[10:20, 10:20] = 1
    region = background_region(labels, 3)
    assert not region[8, 15] and region[2, 2] and not region[15, 15]


def test_still_demo_scene_is_near_zero(tmp_path: Path) -> None:
    frames, parsing = scene(tmp_path)
    report = run_background(tmp_path, frames, parsing)
    assert report["changed_share"] < 0.01 and report["camera_path_px"] < 0.5
    assert not report["moving"] and report["background_mode"] == "static"
    assert json.loads((tmp_path / "notices.json").read_text()) == []


def test_panning_background_is_far_above_the_threshold_and_warned(tmp_path: Path) -> None:
    frames, parsing = scene(tmp_path, pan_px=3.0)
    report = run_background(tmp_path, frames, parsing)
    assert report["changed_share"] > 5 * report["max_share"]
    assert report["camera_path_px"] > 10 * report["max_path_px"]  # 3 px a frame, 45 px in all
    assert report["moving"] and report["background_mode"] == "per_frame"
    notices = json.loads((tmp_path / "notices.json").read_text())
    assert [n["code"] for n in notices] == ["background_motion"]
    assert notices[0]["figures"]["changed_share"] == report["changed_share"]
    gather([tmp_path / "notices.json"], "pan", tmp_path / "pan" / "warnings.json")
    lines = "\n".join(summary_lines(tmp_path / "pan" / "warnings.json"))
    assert "[extract_background]" in lines and "the background moves" in lines and "%" in lines
    # forced static: the same warning, saying what it costs
    forced = run_background(tmp_path, frames, parsing, mode="static")
    assert forced["background_mode"] == "static"
    assert "background.mode: static" in json.loads((tmp_path / "notices.json").read_text())[0]["message"]


def test_camera_shake_is_measured(tmp_path: Path) -> None:
    frames, parsing = scene(tmp_path, shake_px=4.0)
    report = run_background(tmp_path, frames, parsing)
    assert report["camera_path_px"] > report["max_path_px"] and report["moving"]


def test_per_frame_background_goes_behind_the_torso(tmp_path: Path) -> None:
    frames, parsing = scene(tmp_path, pan_px=3.0)
    run_background(tmp_path, frames, parsing)
    out = {k: tmp_path / k for k in ("torso", "gt", "torso_bg")}
    args = ["--frames", str(frames), "--parsing", str(parsing), "--background", str(tmp_path / "bc.jpg"),
            "--background-report", str(tmp_path / "background.json"), "--out-torso", str(out["torso"]),
            "--out-gt", str(out["gt"]), "--out-torso-bg", str(out["torso_bg"])]
    assert torso.main(args) == 0
    i = N - 1
    img = read_image(frame_path(frames, i)).astype(np.float32)
    labels = read_image(frame_path(parsing, i, ".png"), cv2.IMREAD_GRAYSCALE)
    bgpix = labels == 0
    tb = read_image(frame_path(out["torso_bg"], i)).astype(np.float32)
    bc = read_image(tmp_path / "bc.jpg").astype(np.float32)
    assert np.abs(tb - img)[bgpix].mean() < 5 and np.abs(bc - img)[bgpix].mean() > 15


def test_pan_is_tracked_through_flicker_blur_and_compression(tmp_path: Path) -> None:
    frames, parsing = scene(tmp_path, pan_px=2.0)
    rng = np.random.default_rng(5)
    meter = MotionMeter()
    for i in range(N):
        img = cv2.GaussianBlur(read_image(frame_path(frames, i)).astype(np.float32), (0, 0), 2.0)
        img = img * rng.uniform(0.8, 1.2) + rng.uniform(-15, 15)  # gain and offset flicker
        write_image(frame_path(frames, i), np.clip(img, 0, 255).astype(np.uint8), 40)
        meter.track(read_image(frame_path(frames, i)), read_image(frame_path(parsing, i, ".png"), cv2.IMREAD_GRAYSCALE))
    assert meter.unmeasured_steps == 0
    xs = np.array(meter.positions)[:, 0]
    assert np.abs(xs - (-2.0 * np.arange(N))).max() < 0.5  # the background slides 2 px a frame to the left


@pytest.mark.parametrize("name", ["default", "hard"])
def test_builtin_scenes(tmp_path: Path, name: str) -> None:
    """The demo video itself (H.264), with the true person as parsing: near zero on the default scene,
    far above both thresholds on the hard one (panning scenery, shake, flicker, low-res source)."""
    from gtalker.demo import make_demo, truth_head_mask
    from gtalker.demo_scene import resample_truth
    from gtalker.io.video import extract_frames

    make_demo(tmp_path / "demo.mp4", tmp_path / "truth.npz", seconds=1.2, size=SIZE, seed=5, scene=name)
    frames, parsing = tmp_path / "frames", tmp_path / "parsing"
    n = extract_frames(tmp_path / "demo.mp4", frames, fps=25, size=SIZE)
    truth = resample_truth(dict(np.load(tmp_path / "truth.npz")), 25)
    parsing.mkdir()
    for k in range(n):
        labels = np.zeros((SIZE, SIZE), np.uint8)
        if name == "hard":  # the body is its own layer there; in the default scene it is part of the photo
            body = cv2.warpAffine(truth["body_mask_ref"], truth["camera"][k].astype(np.float64), (SIZE, SIZE))
            labels[body > 0] = 3
        labels[truth_head_mask(truth, k)] = 1
        write_image(frame_path(parsing, k, ".png"), labels)
    report = run_background(tmp_path, frames, parsing)
    if name == "default":
        assert report["changed_share"] < 0.01 and report["camera_path_px"] < 0.5 and not report["moving"]
    else:
        assert report["changed_share"] > 5 * report["max_share"]
        assert report["camera_path_px"] > 5 * report["max_path_px"]
        assert report["moving"] and report["background_mode"] == "per_frame"
        assert report["unmeasured_steps"] <= 0.1 * n


def test_frame_background_fills_the_person_from_around() -> None:
    img = np.zeros((96, 96, 3), np.uint8)
    img[:, :48] = (40, 90, 160)
    img[:, 48:] = (200, 120, 30)
    labels = np.zeros((96, 96), np.uint8)
    labels[20:90, 30:66] = 1  # the person covers the seam between the two background colours
    img[labels > 0] = (255, 255, 255)
    out = torso.frame_background(img, labels)
    assert np.array_equal(out[labels == 0], img[labels == 0])
    assert np.abs(out[50, 34].astype(int) - (40, 90, 160)).max() < 25  # left of the seam, left colour
    assert np.abs(out[50, 62].astype(int) - (200, 120, 30)).max() < 25
    assert (out[labels > 0] < 250).all(axis=1).all()  # none of the person is left
