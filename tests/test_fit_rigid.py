"""Cameras and points without a face model (gtalker.fit.rigid): known poses and focal recovered from
landmarks projected from the template, noise and invalid frames, the files the stages read, the rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from gtalker.common import InputError
from gtalker.fit.rigid import (RigidConfig, decisions, landmark_cameras, lift_landmarks, main, make_points,
                               project)
from gtalker.fit.rotation import R_from_euler
from gtalker.fit.synthetic import relative_rotation_error_deg
from gtalker.fit.template import head_box, pose_weights, template
from gtalker.notices import Notices

SIZE = 512
FOCAL = 1000.0  # on the default grid (600..1500 step 50 at 512 px)


def posed_video(n: int = 120, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(landmarks [n,68,2] of the template under known poses, R, t)."""
    k = np.arange(n)
    euler = np.stack([0.15 * np.sin(k / 20), 0.3 * np.sin(k / 31), 0.1 * np.cos(k / 17)], axis=1)
    R = R_from_euler(euler)
    t = np.stack([0.01 * np.sin(k / 13), 0.005 * np.cos(k / 11), 0.55 + 0.03 * np.sin(k / 40)], axis=1)
    lms = project(template(), R, t, FOCAL, (SIZE - 1) / 2)
    return lms + np.random.default_rng(seed).standard_normal(lms.shape) * noise, R, t


def test_template_is_the_builtin_mean_shapes_landmarks() -> None:
    from gtalker.fit.facemodel import load

    model = load(Path(__file__).resolve().parents[1] / "resources/face_models/builtin.npz")
    assert np.abs(template() - model.landmark_arrays()[0]).max() < 1e-6
    lo, hi = head_box()
    assert (template() >= lo).all() and (template() <= hi).all()
    assert pose_weights()[48:68].sum() == 0 and pose_weights()[:17].sum() == 0  # no mouth, no jaw


def test_exact_landmarks_give_the_pose_and_focal() -> None:
    lms, R, t = posed_video()
    track = landmark_cameras(lms, np.ones(len(lms), bool), SIZE, RigidConfig(smooth_frames=0))
    assert track.focal == pytest.approx(FOCAL)
    assert relative_rotation_error_deg(track.R, R).max() < 0.01
    assert np.abs(track.t - t).max() < 1e-5
    assert track.used.all() and np.nanmax(track.reproj_err) < 0.01
    assert track.identity.size == 0 and track.expression.shape == (len(lms), 0) and track.model == "template68"


def test_noise_and_garbage_frames() -> None:
    """0.5 px noise and every 17th frame garbage (marked invalid, or not: then an outlier)."""
    lms, R, t = posed_video(noise=0.5)
    rng = np.random.default_rng(1)
    bad = np.arange(0, len(lms), 17)
    lms[bad] = rng.random((len(bad), 68, 2)) * SIZE
    valid = np.ones(len(lms), bool)
    valid[bad[::2]] = False            # half of them flagged by the detector, half only garbage
    track = landmark_cameras(lms, valid, SIZE, RigidConfig())
    assert abs(track.focal - FOCAL) <= 100
    err = relative_rotation_error_deg(track.R, R)
    assert err.mean() < 0.3 and err.max() < 1.5, (err.mean(), err.max())
    assert np.abs(track.t[:, :2] - t[:, :2]).mean() < 1e-3          # < 1 mm
    assert np.abs(track.t[:, 2] / t[:, 2] - 1).mean() < 0.05          # depth to 5% (focal off by a step)
    assert not track.used[bad].any() and np.isnan(track.reproj_err[bad]).all()
    assert track.used.sum() == len(lms) - len(bad)
    notices = Notices("landmark_cameras")
    decisions(track, valid, notices)
    assert [n.code for n in notices.items] == ["frames_interpolated"]          # the unflagged garbage frames
    assert notices.items[0].figures["frames"] == len(bad[1::2])
    edge = landmark_cameras(lms, valid, SIZE, RigidConfig(focal_min=400, focal_max=800, focal_step=200))
    notices = Notices("landmark_cameras")
    decisions(edge, valid, notices)
    assert edge.focal == pytest.approx(800) and "focal_at_grid_end" in [n.code for n in notices.items]


def test_the_mouth_does_not_move_the_pose() -> None:
    """Lips and lower jaw opening and closing: the pose is that of the rigid points alone."""
    lms, R, t = posed_video()
    opening = 30 * np.abs(np.sin(np.arange(len(lms)) / 3))[:, None]
    lms[:, 48:68, 1] += opening
    lms[:, 0:17, 1] += opening                      # the whole jaw contour follows the jaw
    track = landmark_cameras(lms, np.ones(len(lms), bool), SIZE, RigidConfig(smooth_frames=0))
    assert relative_rotation_error_deg(track.R, R).max() < 0.01


def test_no_usable_frame_is_an_error() -> None:
    lms = np.random.default_rng(0).random((20, 68, 2)) * SIZE
    with pytest.raises(InputError, match="rigid template"):
        landmark_cameras(lms, np.ones(20, bool), SIZE, RigidConfig(focal_step=450))


def test_lifted_landmarks_and_random_points() -> None:
    lms, _R, _t = posed_video(n=30)
    track = landmark_cameras(lms, np.ones(30, bool), SIZE, RigidConfig(smooth_frames=0))
    frames = list(range(30))
    assert np.abs(lift_landmarks(track, lms, frames) - template()).max() < 1e-4
    wide = lms.copy()      # a face 10% wider at the mouth than the template: the lift sees it
    centre = wide[:, [48, 54]].mean(axis=1, keepdims=True)
    wide[:, [48, 54]] = centre + 1.1 * (wide[:, [48, 54]] - centre)
    lifted = lift_landmarks(track, wide, frames)
    assert lifted[54, 0] - lifted[48, 0] == pytest.approx(1.1 * (template()[54, 0] - template()[48, 0]), rel=0.02)
    pts = make_points(track, lms, frames, "random", 500, seed=3)
    lo, hi = head_box()
    assert pts.shape == (500, 3) and (pts >= lo).all() and (pts <= hi).all()
    with pytest.raises(InputError, match="mesh"):
        make_points(track, lms, frames, "mesh", 10, 0)


def test_cli_files_are_what_the_stages_read(tmp_path: Path) -> None:
    """cameras -> track.npz/transforms, view -> links, points -> PLY; the frame dataset reads the view."""
    import cv2

    from gtalker.data import FrameDataset
    from gtalker.fit.points import read_ply
    from gtalker.fit.tracker import load_head_fit

    n = 24
    lms, R, t = posed_video(n=n, noise=0.3)
    valid = np.ones(n, bool)
    valid[5] = False
    root = tmp_path / "results/D"
    (root / "face/gt").mkdir(parents=True)
    (root / "ingest/frames").mkdir(parents=True)
    np.savez(root / "face/landmarks.npz", lms=lms.astype(np.float32), valid=valid)
    (root / "ingest/frames.json").write_text(json.dumps({"size": SIZE, "n_frames": n}))
    (root / "split.json").write_text(json.dumps({"train": list(range(20)), "val": list(range(20, n))}))
    for i in range(n):
        img = np.full((64, 64, 3), 40 + 5 * i, np.uint8)
        cv2.imwrite(str(root / f"ingest/frames/{i:06d}.jpg"), img)
        cv2.imwrite(str(root / f"face/gt/{i:06d}.jpg"), img)
    view = root / "_landmark_cameras"
    fit = view / "fit"
    assert main(["cameras", "--landmarks", str(root / "face/landmarks.npz"), "--frames-json",
                 str(root / "ingest/frames.json"), "--split", str(root / "split.json"), "--focal-step", "100",
                 "--out-track", str(fit / "track.npz"), "--out-train", str(fit / "transforms_train.json"),
                 "--out-val", str(fit / "transforms_val.json"), "--notices", str(tmp_path / "n.json")]) == 0
    assert json.loads((tmp_path / "n.json").read_text()) == []   # focal inside the grid, frame 5 flagged
    track = load_head_fit(fit / "track.npz")
    assert track.focal == pytest.approx(FOCAL) and not track.used[5]
    val = json.loads((fit / "transforms_val.json").read_text())
    assert [f["img_id"] for f in val["frames"]] == list(range(20, n)) and val["focal_len"] == pytest.approx(FOCAL)
    assert main(["view", "--dataset-dir", str(root), "--view-dir", str(view), "--out", str(view / "view.json")]) == 0
    assert main(["view", "--dataset-dir", str(root), "--view-dir", str(view), "--out", str(view / "view.json")]) == 0
    assert (view / "face").is_symlink() and (view / "split.json").read_text() == (root / "split.json").read_text()
    data = FrameDataset(str(view), [21], 32, fields=("image", "K", "viewmat"))
    item = data[0]
    assert np.allclose(item["viewmat"][:3, :3].numpy(), track.R[21], atol=1e-6)
    assert item["K"][0, 0].item() == pytest.approx(FOCAL * 32 / SIZE, rel=1e-5)
    for init, count in (("landmarks", 68), ("random", 200)):
        out = fit / f"points_{init}.ply"
        assert main(["points", "--track", str(fit / "track.npz"), "--landmarks", str(root / "face/landmarks.npz"),
                     "--frames-dir", str(root / "ingest/frames"), "--split", str(root / "split.json"),
                     "--init", init, "--n-points", "200", "--seed", "0", "--out", str(out)]) == 0
        pts, cols = read_ply(out)
        assert pts.shape == (count, 3) and cols.shape == (count, 3)
    # a frame count that disagrees with frames.json is named
    (root / "ingest/frames.json").write_text(json.dumps({"size": SIZE, "n_frames": n + 1}))
    assert main(["cameras", "--landmarks", str(root / "face/landmarks.npz"), "--frames-json",
                 str(root / "ingest/frames.json"), "--split", str(root / "split.json"),
                 "--out-track", str(tmp_path / "t.npz"), "--out-train", str(tmp_path / "a.json"),
                 "--out-val", str(tmp_path / "b.json")]) == 1
    assert not (tmp_path / "t.npz").exists()


def _shell_of(text: str, rule: str, variant: str) -> str:
    """The shell command of a rule's job for a variant in a dry run's printed plan."""
    blocks = re.split(r"\n(?=(?:local)?rule )", text)
    hits = [b for b in blocks if b.startswith((f"rule {rule}:", f"localrule {rule}:")) and f"variant={variant}" in b]
    assert hits, f"no {rule} job for {variant}"
    return hits[0]


def test_dry_run_of_the_variant(tmp_path: Path) -> None:
    """The variant plans the landmark-camera jobs and trains on the view; the base variant's jobs do not
    change (no extra flag, the face-model track); init mesh without a face model is refused by name."""
    from conftest import planned_rules, snakemake

    config = {"variants": {"base": {}, "nofm": {"canonical": {"cameras": "landmarks", "init": "random"}}},
              "ablation": {"variants": ["base", "nofm"], "probe_frames": 3}}
    proc = snakemake(tmp_path, config=config, targets=None, extra=["-n", "-p"])
    jobs = planned_rules(proc)
    for rule in ("landmark_cameras", "landmark_points", "landmark_view", "check_trainable_landmarks"):
        assert jobs.get(rule) == 1, (rule, jobs)
    assert jobs.get("train_canonical") == 2 and jobs.get("fit_face_model") == 1
    text = proc.stdout + proc.stderr
    view = "--dataset-dir results/demo/_landmark_cameras"
    for rule in ("train_canonical", "train_talker", "render_val", "render_custom", "render_attention",
                 "probe_talker", "render_control"):
        mine, base = _shell_of(text, rule, "nofm"), _shell_of(text, rule, "base")
        assert view in mine and view not in base and "--cameras" not in mine + base, rule
        assert "_landmark_cameras/fit/track.npz" in mine and "results/demo/fit/track.npz" in base, rule
    assert "_landmark_cameras/fit/points_random.ply" in _shell_of(text, "train_canonical", "nofm")
    bad = {"variants": {"base": {}, "nofm": {"canonical": {"cameras": "landmarks"}}}}
    proc = snakemake(tmp_path, config=bad, targets=None, extra=["-n"], check=False)
    assert proc.returncode != 0 and "variants.nofm.canonical" in proc.stdout + proc.stderr
