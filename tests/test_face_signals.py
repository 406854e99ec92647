"""Per-frame signals from landmarks (blinks, lip boxes), the split, and the weights helpers."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from gtalker.common import InputError
from gtalker.face import blinks, lips, split, weights
from gtalker.weights import WeightSpec, download


def eye_landmarks(openness: np.ndarray) -> np.ndarray:
    """[N,68,2] with both eyes (36-47) of width 30 and the given height; other points at 0."""
    n = len(openness)
    lms = np.zeros((n, 68, 2))
    for s, x0 in ((36, 100.0), (42, 160.0)):
        for i, h in enumerate(openness):
            lms[i, s:s + 6] = [[x0, 50], [x0 + 10, 50 - h], [x0 + 20, 50 - h], [x0 + 30, 50],
                               [x0 + 20, 50 + h], [x0 + 10, 50 + h]]
    return lms


def test_eye_aspect_ratio_value():
    ear = blinks.eye_aspect_ratio(eye_landmarks(np.array([6.0, 0.0])))
    assert np.allclose(ear, [(12 + 12) / 60, 0.0])


def test_blinks_are_normalised_per_video():
    openness = np.full(200, 6.0)
    openness[50:53] = [3.0, 0.5, 3.0]
    openness[120] = 0.5
    b = blinks.normalise(blinks.eye_aspect_ratio(eye_landmarks(openness)))
    assert b.dtype == np.float32 and b.min() >= 0 and b.max() <= 1
    assert b[51] == pytest.approx(1.0) and b[120] == pytest.approx(1.0)
    assert 0.5 < b[50] <= 1.0  # half-closed frame next to the blink
    assert (b[:50] == 0).all()
    # no blink in the video: noise is not stretched to 0..1
    calm = blinks.normalise(blinks.eye_aspect_ratio(eye_landmarks(6.0 + np.sin(np.arange(200)) * 0.2)))
    assert calm.max() < 0.2


def test_au_csv_round_trips_blinks(tmp_path):
    b = np.array([0.0, 0.25, 1.0], np.float32)
    blinks.write_au_csv(str(tmp_path / "au.csv"), b)
    lines = (tmp_path / "au.csv").read_text().splitlines()
    assert lines[0] == "frame,AU45_r" and lines[3] == "2,2.0000"
    au = np.array([float(x.split(",")[1]) for x in lines[1:]])
    assert np.allclose(np.clip(au, 0, 2) / 2, b)  # the reference's reading gives the blink back


def test_lip_boxes_are_squares_around_the_outer_lips():
    lms = np.zeros((2, 68, 2))
    lms[:, 48:60] = [[100, 200]] * 12
    lms[0, 48:60, 0] = np.linspace(100, 140, 12)   # 40 wide, 10 high
    lms[0, 48:60, 1] = np.linspace(200, 210, 12)
    lms[1, 48:60, 0] = np.linspace(-10, 20, 12)    # partly outside the image
    boxes = lips.lip_boxes(lms, 256, 256)
    x0, y0, x1, y1 = boxes[0]
    assert boxes.dtype == np.int32 and x1 - x0 == y1 - y0 and 40 <= x1 - x0 <= 43
    assert x0 <= 100 and x1 >= 140 and y0 <= 200 and y1 >= 210
    assert boxes[1, 0] == 0


@pytest.mark.parametrize("n,n_train", [(11, 10), (22, 20), (500, 454), (2, 1)])
def test_split_follows_the_reference_rule(n, n_train):
    s = split.split_frames(n, 10 / 11, min_val=0)
    assert s["train"] == list(range(n_train)) and s["val"] == list(range(n_train, n))


@pytest.mark.parametrize("n,n_val,noticed", [(250, 25, False), (500, 46, False), (60, 25, False),
                                             (25, 12, True), (3, 1, True)])
def test_split_keeps_25_validation_frames_or_says_why(n, n_val, noticed):
    s = split.split_frames(n, 10 / 11)
    assert len(s["val"]) == n_val and s["train"] + s["val"] == list(range(n))
    notices = split.Notices("split_dataset")
    split.note_short_validation(s, notices)
    assert [x.code for x in notices.items] == (["few_validation_frames"] if noticed else [])
    if noticed:
        assert f"only {n_val} validation frames" in notices.items[0].message


def test_split_cli_and_bad_input(tmp_path):
    (tmp_path / "frames.json").write_text(json.dumps({"n_frames": 500, "fps": 25, "size": 64, "source": "x"}))
    assert split.main(["--frames-json", str(tmp_path / "frames.json"), "--train-fraction", "0.8",
                       "--out", str(tmp_path / "split.json")]) == 0
    data = json.loads((tmp_path / "split.json").read_text())
    assert set(data) == {"train", "val"} and len(data["train"]) == 400 and data["val"][0] == 400
    with pytest.raises(InputError, match="at least 2"):
        split.split_frames(1, 0.9)


def test_weights_download_checks_sha256(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"weights" * 100)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    spec = WeightSpec(name="t", filename="t.bin", sha256=digest[:10], urls=(src.as_uri(),),
                              instead=weights.NO_WEIGHTS.format(key="parsing.backend", backend="heuristic"))
    out = download(spec, tmp_path / "res" / "t.bin")
    assert out.read_bytes() == src.read_bytes()
    bad = WeightSpec(name="t", filename="t.bin", sha256="0" * 64, urls=(src.as_uri(),),
                             instead=weights.NO_WEIGHTS.format(key="parsing.backend", backend="heuristic"))
    with pytest.raises(InputError, match="sha256"):
        download(bad, tmp_path / "res" / "bad.bin")
    assert not (tmp_path / "res" / "bad.bin").exists()
    unreachable = WeightSpec(name="t", filename="t.bin", sha256=digest, urls=((tmp_path / "no").as_uri(),),
                                     instead=weights.NO_WEIGHTS.format(key="parsing.backend", backend="heuristic"))
    with pytest.raises(InputError, match="could not download.*parsing.backend: heuristic"):
        download(unreachable, tmp_path / "res" / "u.bin")


def test_registered_weights_and_dlib_models():
    assert weights.spec("bisenet").sha256.startswith("468e13ca") and len(weights.spec("bisenet").sha256) == 64
    assert weights.spec("fan2d").filename.startswith("2DFAN4-" + weights.spec("fan2d").sha256)
    assert weights.dlib_model("shape_predictor_68_face_landmarks.dat").stat().st_size > 50_000_000
    with pytest.raises(InputError):
        weights.spec("nope")


def test_weights_check_cli(tmp_path):
    f = tmp_path / "79999_iter.pth"
    f.write_bytes(b"x")
    assert weights.main(["check", "--name", "bisenet", "--path", str(f)]) == 1
    assert weights.main(["check", "--name", "bisenet", "--path", str(tmp_path / "missing.pth")]) == 1
