"""The fit CLI end to end on small files in the layout of CONTRACTS.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gtalker.fit.__main__ import main
from gtalker.fit.facemodel import load
from gtalker.fit.points import read_ply
from gtalker.fit.synthetic import make_video
from gtalker.io.frames import write_image

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "resources/face_models/builtin.npz"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """results/D-like folder: landmarks.npz, frames.json, frames/, split.json (size 128, 40 frames)."""
    root = tmp_path_factory.mktemp("d")
    video = make_video(load(MODEL), n_frames=40, size=128, focal=1000.0, noise_px=0.3, seed=0)
    valid = video.valid.copy()
    valid[[5, 6]] = False
    np.savez(root / "landmarks.npz", lms=video.lms.astype(np.float32), valid=valid,
             interpolated=~valid, score=np.ones(40, np.float32))
    (root / "frames.json").write_text(json.dumps({"n_frames": 40, "fps": 25, "size": 128, "source": "x"}))
    (root / "split.json").write_text(json.dumps({"train": list(range(36)), "val": list(range(36, 40))}))
    frames = root / "frames"
    frames.mkdir()
    for i in range(40):
        write_image(frames / f"{i:06d}.jpg", np.full((128, 128, 3), 90 + i, np.uint8))
    return root


def test_track_cameras_points(dataset: Path, tmp_path: Path) -> None:
    track = tmp_path / "fit/track.npz"
    assert main(["track", "--landmarks", str(dataset / "landmarks.npz"), "--frames-json", str(dataset / "frames.json"),
                 "--model", str(MODEL), "--out", str(track), "--focal-frames", "16", "--iterations", "100",
                 "--device", "cpu"]) == 0
    with np.load(track) as d:
        assert d["R"].shape == (40, 3, 3) and d["size"] == 128 and str(d["model"]) == "builtin"
        assert np.isnan(d["reproj_err"][[5, 6]]).all() and not d["used"][[5, 6]].any()
        assert 600 * 128 / 512 <= d["focal"] <= 1500 * 128 / 512
    assert main(["cameras", "--track", str(track), "--split", str(dataset / "split.json"),
                 "--out-train", str(tmp_path / "fit/transforms_train.json"),
                 "--out-val", str(tmp_path / "fit/transforms_val.json")]) == 0
    train = json.loads((tmp_path / "fit/transforms_train.json").read_text())
    assert len(train["frames"]) == 36 and train["w"] == 128
    for init, count in (("mesh", 8000), ("random", 8000), ("landmarks", 68)):
        out = tmp_path / f"fit/points_{init}.ply"
        assert main(["points", "--track", str(track), "--model", str(MODEL), "--frames-dir", str(dataset / "frames"),
                     "--split", str(dataset / "split.json"), "--init", init, "--n-points", "8000", "--seed", "0",
                     "--out", str(out)]) == 0
        pts, cols = read_ply(out)
        assert len(pts) == count and np.isfinite(pts).all()
        assert 88 <= np.median(cols) <= 130  # coloured from the (uniform grey) frames


def test_bad_input_exits_1_and_writes_nothing(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "track.npz"
    assert main(["track", "--landmarks", str(tmp_path / "none.npz"), "--frames-json", str(dataset / "frames.json"),
                 "--model", str(MODEL), "--out", str(out)]) == 1
    (tmp_path / "frames.json").write_text(json.dumps({"n_frames": 41, "fps": 25, "size": 128}))
    assert main(["track", "--landmarks", str(dataset / "landmarks.npz"), "--frames-json",
                 str(tmp_path / "frames.json"), "--model", str(MODEL), "--out", str(out)]) == 1
    assert not out.exists() and not list(tmp_path.glob(".track*"))
