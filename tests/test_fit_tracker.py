"""Head tracking on synthetic landmark videos with known poses, and on demo-like in-plane motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gtalker.common import InputError
from gtalker.fit.accuracy import demo_accuracy
from gtalker.fit.facemodel import FaceModel, load
from gtalker.fit.rotation import R_from_euler, euler_from_R, fill_rotation_gaps, rvec_from_R
from gtalker.fit.synthetic import make_video, relative_rotation_error_deg
from gtalker.fit.tracker import (FitConfig, HeadFit, fit_video, load_head_fit, load_landmarks, save_head_fit,
                                 weak_perspective_init)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model() -> FaceModel:
    torch.set_num_threads(1)
    return load(REPO / "resources/face_models/builtin.npz")


def _centred(t: np.ndarray) -> np.ndarray:
    return t - t.mean(axis=0)


def test_euler_convention_roundtrip_and_roll_is_counter_clockwise() -> None:
    euler = np.deg2rad([[5.0, -10.0, 20.0], [0.0, 0.0, 0.0]])
    R = R_from_euler(euler)
    np.testing.assert_allclose(euler_from_R(R), euler, atol=1e-9)
    np.testing.assert_allclose(R[1], np.diag([1.0, -1.0, -1.0]))  # frontal: the face looks at the camera
    # Positive roll: a point right of the head centre moves up on screen (y down) = counter-clockwise.
    right = R_from_euler(np.deg2rad([[0.0, 0.0, 10.0]]))[0] @ np.array([0.05, 0.0, 0.0])
    assert right[1] < 0
    np.testing.assert_allclose(R_from_euler(euler_from_R(R)), R, atol=1e-9)
    np.testing.assert_allclose(rvec_from_R(R)[1], 0.0, atol=1e-12)


def test_rotation_gaps_are_slerped() -> None:
    R = R_from_euler(np.deg2rad([[0, 0, 0], [0, 0, 99], [0, 0, 20], [0, 0, 99], [0, 0, 40]]))
    filled = fill_rotation_gaps(R, np.array([True, False, True, False, True]))
    np.testing.assert_allclose(np.rad2deg(euler_from_R(filled))[:, 2], [0, 10, 20, 30, 40], atol=1e-6)


def test_weak_perspective_start_is_close(model: FaceModel) -> None:
    video = make_video(model, n_frames=20, noise_px=0.0, distance=3.0, focal=5000.0, expression_scale=0.0,
                       identity_scale=0.0, seed=3)
    rvec, t = weak_perspective_init(model.landmark_arrays()[0], video.lms, video.focal, 255.5, 255.5)
    from gtalker.fit.rotation import R_from_rvec
    from gtalker.fit.synthetic import rotation_error_deg

    assert rotation_error_deg(R_from_rvec(rvec), video.R).max() < 1.0
    assert np.abs(t - video.t).max() < 0.03


def test_recovers_focal_pose_and_shape_on_a_synthetic_video(model: FaceModel) -> None:
    video = make_video(model, n_frames=150, noise_px=0.5, focal=1000.0, seed=1)
    track = fit_video(model, video.lms, video.valid, video.size, FitConfig(focal_frames=32))
    assert abs(track.focal - video.focal) <= 100.0
    rel = relative_rotation_error_deg(track.R, video.R)
    assert rel.mean() < 0.6 and rel.max() < 2.0
    # Image-plane motion (x, y) in millimetres, up to the constant offset of an arbitrary head origin.
    err_xy = np.abs(_centred(track.t[:, :2]) - _centred(video.t[:, :2])).mean()
    assert err_xy < 0.003
    depth_ratio = track.t[:, 2] / video.t[:, 2]
    assert depth_ratio.std() / depth_ratio.mean() < 0.02  # relative depth motion is right
    assert track.used.all() and np.isfinite(track.reproj_err).all()
    assert track.reproj_err.mean() < 1.2  # noise alone is 0.5 * sqrt(2) = 0.71 px RMSE
    assert track.expression.shape == (150, model.n_expression + 4)
    assert track.video_modes.shape == (4, 68, 3)


def test_invalid_frames_come_from_their_neighbours_not_their_landmarks(model: FaceModel) -> None:
    video = make_video(model, n_frames=120, noise_px=0.5, focal=1000.0, seed=2, invalid_fraction=0.15)
    track = fit_video(model, video.lms, video.valid, video.size, FitConfig(), focal=video.focal)
    bad = ~video.valid
    assert (track.used == video.valid).all()
    assert np.isnan(track.reproj_err[bad]).all() and np.isfinite(track.reproj_err[~bad]).all()
    rel = relative_rotation_error_deg(track.R, video.R)
    assert rel[bad].mean() < 1.0  # garbage landmarks would give tens of degrees
    offset = (track.t - video.t)[~bad].mean(axis=0)
    assert np.abs(track.t[bad] - video.t[bad] - offset).max() < 0.01


def test_a_few_garbage_frames_marked_valid_are_refitted_from_neighbours(model: FaceModel) -> None:
    video = make_video(model, n_frames=100, noise_px=0.5, focal=1000.0, seed=4)
    lms = video.lms.copy()
    bad = [20, 21, 60]
    lms[bad] = np.random.default_rng(0).uniform(0, 512, (3, 68, 2))
    track = fit_video(model, lms, video.valid, video.size, FitConfig(), focal=video.focal)
    assert not track.used[bad].any() and track.used.sum() == 97
    assert relative_rotation_error_deg(track.R, video.R)[bad].max() < 1.5


def test_a_video_that_does_not_fit_fails_listing_the_worst_frames(model: FaceModel) -> None:
    video = make_video(model, n_frames=40, noise_px=0.5, focal=1000.0, seed=5)
    lms = np.random.default_rng(1).uniform(100, 400, video.lms.shape)
    with pytest.raises(InputError, match="Worst frames: .*px"):
        fit_video(model, lms, video.valid, video.size, FitConfig(), focal=1000.0)
    # Consistent but noisy landmarks: the mean error exceeds a strict threshold.
    noisy = make_video(model, n_frames=40, noise_px=4.0, focal=1000.0, seed=5)
    with pytest.raises(InputError, match="max_error_px"):
        fit_video(model, noisy.lms, noisy.valid, noisy.size, FitConfig(max_error_px=1.0, outlier_px=50),
                  focal=1000.0)


def test_demo_like_in_plane_motion_meets_the_accuracy_targets(model: FaceModel) -> None:
    """The demo moves a flat photo in the image plane; landmarks from its generator plus detector-like noise."""
    from gtalker.demo import make_truth, truth_landmarks

    truth, _ = make_truth(seconds=6.0, size=256, seed=0)
    n = len(truth["rotation_deg"])
    rng = np.random.default_rng(0)
    lms = np.stack([truth_landmarks(truth, i) for i in range(n)]) + rng.standard_normal((n, 68, 2)) * 0.5
    track = fit_video(model, lms, np.ones(n, bool), 256, FitConfig(focal_frames=24))
    acc = demo_accuracy(model, track, truth)
    assert acc["roll_error_deg_mean"] <= 1.0
    assert acc["translation_error_pct_of_size"] <= 1.0
    assert acc["reproj_rmse_px_mean_at_512"] <= 2.0
    assert acc["out_of_plane_deg_abs_mean"] <= 1.0
    assert acc["scale_error_mean"] <= 0.01
    assert acc["max_frame_step_roll_deg"] <= acc["max_frame_step_roll_deg_truth"] + 0.1
    # No jumps: the error changes from frame to frame far less than the head moves.
    assert acc["max_frame_step_roll_error_deg"] <= 0.5 * acc["max_frame_step_roll_deg_truth"]
    assert acc["max_frame_step_translation_error_px"] <= 0.75 * acc["max_frame_step_translation_px_truth"]


def test_track_file_roundtrip(model: FaceModel, tmp_path: Path) -> None:
    video = make_video(model, n_frames=30, seed=6)
    track = fit_video(model, video.lms, video.valid, video.size, FitConfig(video_modes=2), focal=video.focal)
    save_head_fit(tmp_path / "track.npz", track)
    back = load_head_fit(tmp_path / "track.npz")
    assert isinstance(back, HeadFit) and back.model == "builtin" and back.size == 512
    np.testing.assert_allclose(back.R, track.R)
    np.testing.assert_allclose(back.euler, track.euler, atol=1e-9)
    with np.load(tmp_path / "track.npz") as d:
        for key in ("focal", "cx", "cy", "size", "R", "t", "euler", "expression", "identity", "reproj_err", "model"):
            assert key in d
        assert float(d["cx"]) == 255.5
    with pytest.raises(InputError, match="fit_face_model"):
        load_head_fit(tmp_path / "none.npz")


def test_landmark_file_checks(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_landmarks(tmp_path / "absent.npz")
    np.savez(tmp_path / "shape.npz", lms=np.zeros((5, 60, 2)), valid=np.ones(5, bool))
    with pytest.raises(InputError, match=r"\[N,68,2\]"):
        load_landmarks(tmp_path / "shape.npz")
    np.savez(tmp_path / "none.npz", lms=np.zeros((5, 68, 2)), valid=np.zeros(5, bool))
    with pytest.raises(InputError, match="no frame has valid landmarks"):
        load_landmarks(tmp_path / "none.npz")
    lms = np.ones((3, 68, 2))
    lms[1, 4] = np.nan
    np.savez(tmp_path / "nan.npz", lms=lms, valid=np.ones(3, bool))
    _, valid = load_landmarks(tmp_path / "nan.npz")
    assert valid.tolist() == [True, False, True]
