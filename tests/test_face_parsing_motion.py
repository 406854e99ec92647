"""Heuristic parsing where the background moves and the camera shakes (the demo's hard scene), and the
plausibility figures of a label map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gtalker.demo import make_demo, truth_head_mask
from gtalker.demo_scene import resample_truth
from gtalker.face.heuristic import HeadShape, HeuristicConfig, parse_stream
from gtalker.face.landmarks import detect_video
from gtalker.face.parsing_quality import head_beyond_hull, head_iou, torso_above_nose
from gtalker.io.frames import read_frame
from gtalker.io.video import extract_frames

SIZE = 256


@pytest.fixture(scope="module")
def hard_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, dict]:
    root = tmp_path_factory.mktemp("hard_parse")
    make_demo(root / "demo.mp4", root / "truth.npz", seconds=2.4, size=SIZE, seed=2, scene="hard")
    extract_frames(root / "demo.mp4", root / "frames", fps=25, size=SIZE)
    track = detect_video(str(root / "frames"))
    return root / "frames", track.lms, resample_truth(dict(np.load(root / "truth.npz")), 25)


def parse_figures(frames: Path, lms: np.ndarray, truth: dict, cfg: HeuristicConfig) -> dict[str, float]:
    ious, beyond, above = [], [], []
    for i, labels in enumerate(parse_stream(lambda k: read_frame(frames, k), lms, cfg)):
        ious.append(head_iou(labels, truth_head_mask(truth, i))[0])
        beyond.append(head_beyond_hull(labels, lms[i]))
        above.append(torso_above_nose(labels, lms[i]))
        assert (labels == 3).any()
    return {"iou": float(np.mean(ious)), "iou_min": float(np.min(ious)), "beyond": float(np.mean(beyond)),
            "above": float(np.max(above))}


def test_heuristic_holds_on_a_moving_background(hard_clip) -> None:
    """With the background model used only where the background stays still and the head shape learnt
    over the frames, the head is found; trusting the background model everywhere (the static-camera
    assumption) labels the passing scenery as head."""
    frames, lms, truth = hard_clip
    now = parse_figures(frames, lms, truth, HeuristicConfig(subset=12))
    # a 2.4 s clip from a 96 px source: harder than the benchmark's 20 s at 512 px (IoU >= 0.90 there)
    assert now["iou"] >= 0.85 and now["iou_min"] >= 0.75, now
    assert now["beyond"] < 0.05 and now["above"] < 0.02, now
    static = parse_figures(frames, lms, truth, HeuristicConfig(subset=12, unstable=1.0, prior_sure=1.0,
                                                               follow_gap=0))
    assert static["iou"] < now["iou"] - 0.15, (static, now)


def test_plausibility_figures_on_drawn_label_maps() -> None:
    lms = np.zeros((68, 2))
    lms[:17, 0], lms[:17, 1] = np.linspace(60, 140, 17), 100 + 40 * np.sin(np.linspace(0, np.pi, 17))
    lms[17:27] = np.stack([np.linspace(65, 135, 10), np.full(10, 80.0)], 1)
    lms[27:68] = [100.0, 110.0]
    lms[30] = [100.0, 115.0]
    labels = np.zeros((200, 200), np.uint8)
    labels[40:140, 60:140] = 1            # head: all within a face height (60 px) of the hull
    assert head_beyond_hull(labels, lms) == 0.0
    labels[0:10, 0:50] = 1                # 500 px of head far from the face
    assert head_beyond_hull(labels, lms) == pytest.approx(500 / (8000 + 500), abs=0.01)
    labels[150:, :] = 3
    assert torso_above_nose(labels, lms) == 0.0
    labels[100:110, 0:20] = 3             # a band beside the jaw, above the nose tip's row
    assert torso_above_nose(labels, lms) == pytest.approx(200 / (50 * 200 + 200))
    iou, precision, recall = head_iou(labels, labels == 1)
    assert iou == precision == recall == 1.0


def test_head_shape_keeps_what_moves_with_the_face() -> None:
    """Masks with a blob that stays on the face and noise that does not: the prior keeps the first."""
    rng = np.random.default_rng(0)
    ref = np.zeros((68, 2))
    ref[:, 0], ref[:, 1] = rng.uniform(80, 120, 68), rng.uniform(80, 120, 68)
    shape = HeadShape((200, 200), ref)
    for k in range(12):
        lms = ref + [3.0 * np.sin(k), 2.0 * np.cos(k)]
        mask = np.zeros((200, 200), bool)
        x, y = int(round(3.0 * np.sin(k))), int(round(2.0 * np.cos(k)))
        mask[60 + y:140 + y, 70 + x:130 + x] = True          # moves with the face
        mask[rng.integers(0, 150):, rng.integers(0, 150):][:40, :40] = True  # somewhere else each time
        shape.add(mask, lms)
    prior = shape.prior(ref)
    assert prior[100, 100] > 0.95 and prior[70:130, 80:120].mean() > 0.9
    assert (prior[:50, :50] < 0.5).all() and (prior[160:, 160:] < 0.5).all()


def test_parsing_step_reports_and_notices(hard_clip, tmp_path: Path) -> None:
    """The step writes its figures and tells the user that the background moved; head labels far from
    the face are a notice that names the worst frame."""
    from gtalker.face import parsing
    from gtalker.face.landmarks import detect_video, save_landmark_track
    from gtalker.notices import Notices, read_notices

    frames, _, _ = hard_clip
    save_landmark_track(str(tmp_path / "landmarks.npz"), detect_video(str(frames)))
    assert parsing.main(["--frames", str(frames), "--landmarks", str(tmp_path / "landmarks.npz"), "--out",
                         str(tmp_path / "p"), "--out-fine", str(tmp_path / "f"), "--backend", "heuristic",
                         "--subset", "8", "--report", str(tmp_path / "parsing.json"), "--notices", str(tmp_path / "n.json")]) == 0
    codes = [n.code for n in read_notices(tmp_path / "n.json")]
    assert "parsing_moving_background" in codes
    figures = {"head_beyond_hull_mean": 0.03, "head_beyond_hull_max": 0.09, "head_beyond_hull_worst_frame": 17,
               "background_static_share": 0.9}
    notices = Notices("parse_faces")
    parsing.check_parsing(figures, notices, HeuristicConfig())
    assert [n.code for n in notices.items] == ["parsing_head_far_from_face"]
    assert "worst frame 17: 9.0%" in notices.items[0].message
    notices = Notices("parse_faces")
    parsing.check_parsing({**figures, "head_beyond_hull_mean": 0.001, "head_beyond_hull_max": 0.01}, notices,
                          HeuristicConfig())
    assert not notices.items
