"""Static background (farthest-from-foreground rule) and torso images / training targets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gtalker.common import InputError
from gtalker.face import background, torso
from gtalker.io.frames import frame_path, read_image, write_image


def moving_square_video(folder, labels_dir, n=12, size=64):
    """Textured static background with a square 'person' (label 3) moving left to right."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    folder.mkdir()
    labels_dir.mkdir()
    for i in range(n):
        img = bg.copy()
        lab = np.zeros((size, size), np.uint8)
        x = 2 + 3 * i
        img[20:44, x:x + 16] = (200, 30, 30)
        lab[20:44, x:x + 16] = 3
        cv2.imwrite(str(frame_path(folder, i, ".png")), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))  # lossless
        cv2.imwrite(str(frame_path(labels_dir, i, ".png")), lab)
    return bg


def test_fill_from_nearest_copies_nearest_known_pixel():
    img = np.zeros((5, 6, 3), np.uint8)
    known = np.zeros((5, 6), bool)
    known[0, 0], known[4, 5] = True, True
    img[0, 0], img[4, 5] = 10, 200
    out = background.fill_from_nearest(img, known)
    assert (out[0, :2] == 10).all() and (out[4, 4:] == 200).all() and (out[1, 1] == 10).all()


def test_background_recovers_the_scene_behind_a_moving_person(tmp_path):
    bg = moving_square_video(tmp_path / "f", tmp_path / "p")
    est = background.extract_background(str(tmp_path / "f"), str(tmp_path / "p"),
                                        background.BackgroundConfig(min_dist=2))
    # every pixel is uncovered at least 2 px away from the square in some frame: exact recovery
    assert np.array_equal(est, bg)
    # with a large min_dist nothing is 'known' near the path of the square; it is filled, never the square
    far = background.extract_background(str(tmp_path / "f"), str(tmp_path / "p"),
                                        background.BackgroundConfig(min_dist=20))
    assert not np.all(far == (200, 30, 30), axis=2).any()
    assert not np.array_equal(far, bg)


def test_background_cli_is_atomic_on_error(tmp_path):
    moving_square_video(tmp_path / "f", tmp_path / "p")
    (tmp_path / "p" / "000005.png").unlink()
    assert background.main(["--frames", str(tmp_path / "f"), "--parsing", str(tmp_path / "p"),
                            "--out", str(tmp_path / "bc.jpg")]) == 1
    assert not (tmp_path / "bc.jpg").exists()
    (tmp_path / "p" / "000005.png").write_bytes(b"")
    with pytest.raises(InputError, match="000005.png"):
        background.extract_background(str(tmp_path / "f"), str(tmp_path / "p"))


def head_neck_torso(size=100):
    """Labels: head block on top, a neck column under it, torso below; image with distinct colours."""
    lab = np.zeros((size, size), np.uint8)
    lab[10:50, 30:70] = 1
    lab[50:65, 40:60] = 2
    lab[65:, 15:85] = 3
    img = np.zeros((size, size, 3), np.uint8)
    img[lab == 1] = (200, 150, 120)
    img[lab == 2] = (180, 120, 90)
    img[lab == 3] = (20, 40, 160)
    img[lab == 0] = (90, 90, 90)
    return img, lab


def test_torso_rgba_extends_the_neck_under_the_chin():
    img, lab = head_neck_torso()
    cfg = torso.TorsoConfig(neck_extend=0.2, torso_extend=0.05, push_down=0.04)
    rgba = torso.torso_rgba(img, lab, cfg)
    alpha = rgba[..., 3] > 0
    assert rgba.shape == (100, 100, 4)
    assert alpha[lab == 3].all() and alpha[lab == 2].all() and not alpha[lab == 0].any()
    col = 50
    # the neck column is painted upwards into the head for about neck_extend (20 px) + push_down
    painted = np.nonzero(alpha[:, col])[0]
    assert painted.min() <= 50 - 3 - 20 + 1 and painted.min() >= 10
    ext = rgba[30:47, col, :3].astype(float)
    neck = np.array([180.0, 120.0, 90.0])
    cos = ext @ neck / (np.linalg.norm(ext, axis=1) * np.linalg.norm(neck))
    assert (cos > 0.995).all(), "the extension has the neck's colour"
    assert (np.diff(ext.sum(axis=1)) >= -1).all(), "darkened slightly upwards"
    assert not alpha[10:50, 31].any(), "head columns without neck below stay transparent"
    # torso columns that touch the head get a short extension (5 px)
    lab2 = np.zeros((100, 100), np.uint8)
    lab2[10:40] = 1
    lab2[40:] = 3
    a2 = torso.torso_rgba(img, lab2, cfg)[..., 3] > 0
    assert a2[35:, 50].all() and not a2[:35, 50].any()


def test_gt_and_torso_bg_composites():
    img, lab = head_neck_torso()
    bc = np.full_like(img, 7)
    rgba = torso.torso_rgba(img, lab, torso.TorsoConfig())
    tb = torso.composite(rgba, bc)
    gt = torso.training_target(img, lab, tb)
    assert (tb[lab == 0] == 7).all() and (tb[lab == 3] == img[lab == 3]).all()
    assert (gt[lab == 1] == img[lab == 1]).all() and (gt[lab == 0] == 7).all()
    soft = rgba.copy()
    soft[..., 3] = 128
    half = torso.composite(soft, bc)
    assert abs(int(half[80, 50, 2]) - (160 * 128 + 7 * 127) // 255) <= 1


def test_composite_video_writes_three_folders(tmp_path):
    img, lab = head_neck_torso()
    (tmp_path / "f").mkdir()
    (tmp_path / "p").mkdir()
    for i in range(3):
        write_image(frame_path(tmp_path / "f", i), img)
        cv2.imwrite(str(frame_path(tmp_path / "p", i, ".png")), lab)
    write_image(tmp_path / "bc.jpg", np.full_like(img, 60))
    assert torso.main(["--frames", str(tmp_path / "f"), "--parsing", str(tmp_path / "p"), "--background",
                       str(tmp_path / "bc.jpg"), "--out-torso", str(tmp_path / "t"), "--out-gt",
                       str(tmp_path / "g"), "--out-torso-bg", str(tmp_path / "tb")]) == 0
    rgba = read_image(tmp_path / "t" / "000002.png", cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (100, 100, 4) and rgba[90, 50, 3] == 255 and rgba[5, 5, 3] == 0
    assert len(list((tmp_path / "g").glob("*.jpg"))) == 3 and len(list((tmp_path / "tb").glob("*.jpg"))) == 3
    write_image(tmp_path / "bc.jpg", np.full((50, 50, 3), 60, np.uint8))  # wrong size
    assert torso.main(["--frames", str(tmp_path / "f"), "--parsing", str(tmp_path / "p"), "--background",
                       str(tmp_path / "bc.jpg"), "--out-torso", str(tmp_path / "t2"), "--out-gt",
                       str(tmp_path / "g2"), "--out-torso-bg", str(tmp_path / "tb2")]) == 1
    assert not (tmp_path / "t2").exists() and not (tmp_path / "g2").exists()
