"""Ingest crop around the face: a portrait phone video with the face high up keeps the whole head."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ffmpeg
from gtalker.common import read_json, write_json
from gtalker.crop import ZOOM, Crop, centre_crop, choose_crop, cut_share, head_box
from gtalker.demo import build_geometry, make_truth, render_frame
from gtalker.ingest import run_frames
from gtalker.io.frames import count_frames, read_frame
from gtalker.io.video import VideoWriter, probe
from gtalker.notices import Notices

pytest.importorskip("dlib")

W, H, FACE = 1080, 1920, 600  # portrait clip; the demo frame (head and its background) pasted at PASTE
PASTE = (240, 40)


def crop_notices(notices: Notices) -> list[str]:
    """Codes of the crop's notices (the clips here are short, which is noticed too)."""
    return [n.code for n in notices.items if n.code.startswith("crop")]


def _portrait_clip(path: Path, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A 1080x1920 clip with the demo's head in the upper third; returns the union of its head masks
    in clip pixels and the first frame."""
    truth, _ = make_truth(n / 25.0 + 0.04, FACE, seed=3)
    geo = build_geometry(FACE)
    rows = np.linspace(30, 200, H, dtype=np.float32)[:, None, None]
    canvas = np.broadcast_to(np.concatenate([rows, rows * 0.8, rows * 0.6], axis=2), (H, W, 3))
    canvas = canvas.astype(np.uint8)
    union = np.zeros((H, W), bool)
    x, y = PASTE
    with VideoWriter(path, W, H, fps=25, crf=20) as writer:
        for i in range(n):
            frame, mask = render_frame(geo, float(truth["mouth_open"][i]), float(truth["mouth_width"][i]),
                                       float(truth["blink"][i]), truth["affine"][i].astype(np.float64))
            img = canvas.copy()
            img[y:y + FACE, x:x + FACE] = frame
            union[y:y + FACE, x:x + FACE] |= mask > 0.1
            writer.write(img)
            first = img if i == 0 else first
    return union, first


def test_choose_crop_keeps_heads_and_centres_otherwise() -> None:
    face = np.array([400.0, 200.0, 680.0, 480.0])  # high in a portrait frame
    crop = choose_crop(1080, 1920, [face])
    assert crop.side == 1080 and crop.x0 == 0 and crop.y0 == 0 and crop.method == "face"
    assert cut_share(face, crop) == 0.0
    low = np.array([400.0, 1500.0, 680.0, 1780.0])  # low in the frame: the square slides down
    crop = choose_crop(1080, 1920, [low])
    assert crop.y0 + crop.side >= 1780 + 0.3 * 280 and crop.y0 + crop.side <= 1920
    assert choose_crop(1080, 1920, []) == centre_crop(1080, 1920)
    assert centre_crop(1920, 1080) == Crop(420, 0, 1080, "centre")
    side = np.array([1500.0, 300.0, 1750.0, 550.0])  # landscape interview, face on the right
    crop = choose_crop(1920, 1080, [side])
    assert crop.x0 + crop.side == 1920 and crop.side == int(ZOOM * 250) and cut_share(side, crop) == 0.0
    assert cut_share(side, centre_crop(1920, 1080)) > 0.5
    # a lecture: a small face far from the centre; the square zooms in to ZOOM face widths, not below
    # the output size, and holds the head
    small = np.array([1300.0, 250.0, 1400.0, 350.0])
    crop = choose_crop(1920, 1080, [small], min_side=512)
    assert crop.side == 512 and cut_share(head_box(small), crop) == 0.0
    crop = choose_crop(3840, 2160, [small * 2], min_side=512)
    assert crop.side == int(ZOOM * 200) and cut_share(head_box(small * 2), crop) == 0.0
    # heads spread over the samples widen the square so that all of them fit
    moving = [small, small + [400, 0, 400, 0]]
    crop = choose_crop(1920, 1080, moving, min_side=256)
    assert all(cut_share(head_box(f), crop) == 0.0 for f in moving)


def test_portrait_clip_keeps_the_whole_head(tmp_path: Path) -> None:
    video = tmp_path / "portrait.mp4"
    heads, source = _portrait_clip(video)
    ys, xs = np.nonzero(heads)
    assert ys.min() < 420, "the test clip must have a head the centre square would cut"
    write_json(tmp_path / "probe.json", probe(video))
    notices = Notices("extract_frames")
    meta = run_frames(str(video), str(tmp_path / "probe.json"), str(tmp_path / "frames"),
                      str(tmp_path / "frames.json"), 25, 256, None, None, 95, notices, allow_short=True)
    crop = meta["crop"]
    assert crop["method"] == "face" and 512 <= crop["side"] <= 1080
    x0, y0, side = crop["x0"], crop["y0"], crop["side"]
    assert y0 <= ys.min() and ys.max() < y0 + side, (y0, ys.min(), ys.max())
    assert x0 <= xs.min() and xs.max() < x0 + side
    assert not crop_notices(notices)
    assert read_json(tmp_path / "frames.json")["crop"] == crop
    assert count_frames(tmp_path / "frames") == 12
    # the extracted frame is that square of the source (and not the centre square)
    first = read_frame(tmp_path / "frames", 0).astype(np.float32)
    chosen = cv2.resize(source[y0:y0 + side, x0:x0 + side], (256, 256), interpolation=cv2.INTER_AREA)
    centre = cv2.resize(source[420:1500], (256, 256), interpolation=cv2.INTER_AREA)
    if side < 1080:
        centre = cv2.resize(source[960 - side // 2:960 + side // 2, 540 - side // 2:540 + side // 2], (256, 256),
                            interpolation=cv2.INTER_AREA)
    assert np.abs(first - chosen).mean() < 4 < np.abs(first - centre).mean()
    # the same clip as a phone stores it: landscape pixels with a display rotation; decoded upright
    coded, rotated = tmp_path / "coded.mp4", tmp_path / "rotated.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-i", str(video), "-vf", "transpose=1", "-c:v", "libx264",
                    "-crf", "18", str(coded)], check=True)
    tagged = subprocess.run([ffmpeg(), "-v", "error", "-y", "-display_rotation", "90", "-i", str(coded),
                             "-c", "copy", str(rotated)], capture_output=True)
    if tagged.returncode != 0:
        pytest.skip("this ffmpeg cannot tag a display rotation")
    info = probe(rotated)
    assert (info["width"], info["height"]) == (H, W)
    write_json(tmp_path / "rotated.json", info)
    meta = run_frames(str(rotated), str(tmp_path / "rotated.json"), str(tmp_path / "rot_frames"),
                      str(tmp_path / "rot_frames.json"), 25, 256, None, None, 95, Notices("extract_frames"),
                      allow_short=True)
    assert meta["crop"] == crop
    assert np.abs(read_frame(tmp_path / "rot_frames", 0).astype(np.float32) - first).mean() < 3


def test_centre_crop_option_and_notice_when_no_face(tmp_path: Path) -> None:
    video = tmp_path / "blank.mp4"
    with VideoWriter(video, 96, 160, fps=25) as writer:
        for i in range(10):
            writer.write(np.full((160, 96, 3), 40 + 10 * i, np.uint8))
    write_json(tmp_path / "probe.json", probe(video))
    notices = Notices("extract_frames")
    meta = run_frames(str(video), str(tmp_path / "probe.json"), str(tmp_path / "f1"), str(tmp_path / "f1.json"),
                      25, 48, None, None, 95, notices, allow_short=True)
    assert meta["crop"] == {"x0": 0, "y0": 32, "side": 96, "method": "centre"}
    assert crop_notices(notices) == ["crop_no_face"]
    notices = Notices("extract_frames")
    meta = run_frames(str(video), str(tmp_path / "probe.json"), str(tmp_path / "f2"), str(tmp_path / "f2.json"),
                      25, 48, None, None, 95, notices, allow_short=True, crop="centre")
    assert meta["crop"]["method"] == "centre" and not crop_notices(notices)
