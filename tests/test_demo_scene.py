"""The demo's hard scene: 29.97 fps, a moving background and camera, and a truth that still locates the head."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gtalker.demo import build_geometry, make_demo, truth_head_mask, truth_landmarks
from gtalker.demo_scene import HARD_FPS, resample_truth, scene_layers, source_frame
from gtalker.io.frames import read_frame
from gtalker.io.video import VideoWriter, extract_frames, probe

SIZE = 256


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("hard")
    make_demo(root / "demo.mp4", root / "truth.npz", seconds=2.0, size=SIZE, seed=5, scene="hard")
    frames = root / "frames"
    extract_frames(root / "demo.mp4", frames, fps=25, size=SIZE)
    return root, dict(np.load(root / "truth.npz")), frames


def test_video_is_2997_fps_with_one_truth_row_per_frame(hard: tuple[Path, dict, Path]) -> None:
    root, truth, _ = hard
    info = probe(root / "demo.mp4")
    assert info["fps"] == pytest.approx(HARD_FPS, abs=1e-3) and info["audio_codec"] == "aac"
    assert info["n_frames"] == len(truth["mouth_open"]) == len(truth["camera"]) == round(2.0 * HARD_FPS)
    assert str(truth["scene"]) == "hard" and int(truth["source_size"]) < SIZE


def test_source_frame_is_the_frame_ingest_keeps(tmp_path: Path) -> None:
    """Each frame carries its index in binary blocks; ingest at 25 fps must keep source_frame(k)."""
    n = 90
    with VideoWriter(tmp_path / "idx.mp4", 80, 80, fps=HARD_FPS, crf=10) as writer:
        for j in range(n):
            frame = np.zeros((80, 80, 3), np.uint8)
            for b in range(7):
                if (j >> b) & 1:
                    frame[(b // 5) * 16:(b // 5) * 16 + 16, (b % 5) * 16:(b % 5) * 16 + 16] = 255
            writer.write(frame)
    count = extract_frames(tmp_path / "idx.mp4", tmp_path / "f", fps=25, size=80)
    got = [sum(1 << b for b in range(7) if read_frame(tmp_path / "f", k)[(b // 5) * 16 + 8, (b % 5) * 16 + 8, 0] > 128)
           for k in range(count)]
    assert got == list(np.minimum(source_frame(np.arange(count), HARD_FPS, 25), n - 1))
    assert list(source_frame(np.arange(5), 25, 25)) == [0, 1, 2, 3, 4]


def test_truth_pose_includes_the_camera(hard: tuple[Path, dict, Path]) -> None:
    """The frame warped back to the reference by the truth's affine matches the head layer; a pose off
    by 4 px, or the pose without the camera shake, matches worse."""
    _, truth, frames = hard
    t25 = resample_truth(truth, 25)
    geo, _ = scene_layers(build_geometry(SIZE))
    inner = cv2.erode((geo.mask > 0.5).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    inner[int(geo.landmarks[48:68, 1].min()) - 4:, :] = False  # leave out the animated mouth and jaw
    ref = geo.head.astype(np.float32)

    def error(img: np.ndarray, affine: np.ndarray, gain: np.ndarray) -> float:
        back = cv2.warpAffine(img, affine.astype(np.float64), (SIZE, SIZE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP).astype(np.float32) / gain
        return float(np.abs(back - ref)[inner].mean())

    shake, compared = [], 0
    for k in (3, 20, 41):
        img = read_frame(frames, k)
        affine, gain = t25["affine"][k], t25["gain"][k]
        right = error(img, affine, gain)
        off = error(img, affine + [[0, 0, 4.0], [0, 0, 0]], gain)
        camera_free = np.linalg.solve(np.vstack([t25["camera"][k], [0, 0, 1]]).astype(np.float64),
                                      np.vstack([affine, [0, 0, 1]]))[:2]
        corners = np.array([[0, 0, 1], [SIZE, 0, 1], [0, SIZE, 1], [SIZE, SIZE, 1]], np.float64)
        shake.append(np.abs(corners @ t25["camera"][k].T.astype(np.float64) - corners[:, :2]).max())
        assert right < 12.0 and right < 0.7 * off, (k, right, off)
        if np.abs(affine - camera_free).max() > 1.0:
            assert right < error(img, camera_free, gain), k
            compared += 1
    assert max(shake) > 0.5 and compared  # the camera does move


def test_background_moves_and_head_mask_stays_on_the_head(hard: tuple[Path, dict, Path]) -> None:
    _, truth, frames = hard
    t25 = resample_truth(truth, 25)
    a, b = read_frame(frames, 0).astype(np.int16), read_frame(frames, 40).astype(np.int16)
    person = np.zeros((SIZE, SIZE), bool)
    for k in (0, 40):
        person |= cv2.warpAffine(truth["body_mask_ref"], t25["camera"][k].astype(np.float64), (SIZE, SIZE)) > 0
        person |= truth_head_mask(t25, k)
    person = cv2.dilate(person.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.abs(a - b).max(2)[~person].mean() > 25  # the scenery passes
    lm = truth_landmarks(t25, 40)
    mask = truth_head_mask(t25, 40)
    assert mask[int(round(lm[30, 1])), int(round(lm[30, 0]))] and mask.mean() < 0.4
