"""The check before training: too few frames, poses the face model cannot explain, errors that grow with
the head's turn; each a notice with its figure, none on a good clip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gtalker.face.landmarks import LandmarkTrack, save_landmark_track
from gtalker.fit.rotation import R_from_euler
from gtalker.fit.tracker import HeadFit, save_head_fit
from gtalker.fit.trainable import main
from gtalker.notices import read_notices


def clip(tmp_path: Path, n: int, yaw_deg: np.ndarray, err_px: np.ndarray, extra: tuple[str, ...] = ()) -> list[str]:
    """Write a track with the given yaw and reprojection error, 100 px wide faces; run the check."""
    euler = np.zeros((n, 3))
    euler[:, 1] = np.radians(yaw_deg)
    track = HeadFit(focal=1000.0, cx=255.5, cy=255.5, size=512, R=R_from_euler(euler), t=np.tile([0, 0, 1.0], (n, 1)),
                  expression=np.zeros((n, 4)), identity=np.zeros(3), reproj_err=err_px, used=np.ones(n, bool),
                  model="builtin")
    save_head_fit(tmp_path / "track.npz", track)
    lms = np.zeros((n, 68, 2))
    lms[:, 16, 0] = 100.0
    save_landmark_track(str(tmp_path / "lms.npz"), LandmarkTrack(lms, np.ones(n, bool), np.zeros(n, bool), np.ones(n)))
    k = int(n * 10 / 11)
    (tmp_path / "split.json").write_text(json.dumps({"train": list(range(k)), "val": list(range(k, n))}))
    assert main(["--track", str(tmp_path / "track.npz"), "--landmarks", str(tmp_path / "lms.npz"), "--split",
                 str(tmp_path / "split.json"), "--out", str(tmp_path / "t.json"), "--notices",
                 str(tmp_path / "n.json"), *extra]) == 0
    return [n.code for n in read_notices(tmp_path / "n.json")]


def test_good_clip_has_no_notice(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 500
    assert clip(tmp_path, n, 10 * np.sin(np.arange(n) / 30), 0.5 + 0.1 * rng.random(n)) == []
    assert json.loads((tmp_path / "t.json").read_text())["ok"] is True


def test_short_clip_misregistered_and_turn_dependent(tmp_path: Path) -> None:
    n = 100
    yaw = 25 * np.sin(np.arange(n) * 4 * np.pi / n)  # two turns each way: the median pose is frontal
    codes = clip(tmp_path, n, yaw, 0.5 + 0.3 * np.abs(yaw))  # 8 px (8% of the face) at 25 degrees
    assert codes == ["clip_short", "registration_error", "registration_turn"]
    fig = json.loads((tmp_path / "t.json").read_text())
    assert fig["train_frames"] == 90 and fig["reproj_face_widths_p90"] > 0.07 and fig["reproj_turn_rank_r"] > 0.9


def test_landmark_cameras_name_their_template_and_leave_the_clip_length_to_the_face_model_check(
        tmp_path: Path) -> None:
    n = 100
    yaw = 25 * np.sin(np.arange(n) * 4 * np.pi / n)
    codes = clip(tmp_path, n, yaw, 0.5 + 0.3 * np.abs(yaw), extra=("--cameras", "landmarks"))
    assert codes == ["registration_error", "registration_turn"]
    notices = read_notices(tmp_path / "n.json")
    assert {x.step for x in notices} == {"check_trainable_landmarks"}
    assert "landmark cameras" in notices[0].message and "face model" not in notices[0].message
