"""Export to and import from the reference (ER-NeRF / GaussianTalker) dataset layout."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gtalker import refdata
from gtalker.common import InputError, write_json
from gtalker.face.blinks import write_au_csv
from gtalker.face.landmarks import LandmarkTrack, load_landmark_track, save_landmark_track
from gtalker.face.torso import TorsoConfig, composite, torso_rgba
from gtalker.io.audio import read_wav, write_wav
from gtalker.io.frames import frame_path, read_image, write_image

N, S = 6, 48


def labels_for(i: int) -> np.ndarray:
    lab = np.zeros((S, S), np.uint8)
    lab[5 + i:25 + i, 14:34] = 1
    lab[25 + i:32 + i, 19:29] = 2
    lab[32 + i:, 8:40] = 3
    return lab


def pose(i: int) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera (R, t) of frame i (OpenCV, metres): the head turned a little, 0.5 m away."""
    a, b = 0.1 * i, 0.05 * (i - 2)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rx @ ry, np.array([0.01 * i, -0.02, 0.5])


def c2w(i: int) -> np.ndarray:
    R, t = pose(i)
    m = np.eye(4)
    m[:3, :3] = R.T
    m[:3, 3] = -R.T @ t
    return m


FOCAL = 60.0
MODEL = Path(__file__).resolve().parents[1] / "resources/face_models/builtin.npz"


def head_points() -> np.ndarray:
    """68 world points (metres) on the builtin face model."""
    from gtalker.fit.facemodel import load

    model = load(MODEL)
    return model.shape()[model.lmk_idx]


def project(points: np.ndarray, i: int) -> np.ndarray:
    R, t = pose(i)
    q = points @ R.T + t
    return FOCAL * q[:, :2] / q[:, 2:3] + (S - 1) / 2


@pytest.fixture
def results(tmp_path) -> Path:
    """A results/<dataset> folder with every file the export reads (images made up; landmarks are the
    projections of the face model's landmark points with the track's cameras)."""
    from gtalker.fit.cameras import write_transforms
    from gtalker.fit.tracker import HeadFit, save_head_fit

    root = tmp_path / "results" / "d"
    rng = np.random.default_rng(0)
    bc = np.full((S, S, 3), 80, np.uint8)
    for sub in ("ingest/frames", "face/parsing", "face/torso", "face/gt", "audio", "fit"):
        (root / sub).mkdir(parents=True)
    for i in range(N):
        img = rng.integers(0, 255, (S, S, 3), dtype=np.uint8)
        write_image(frame_path(root / "ingest/frames", i), img)
        lab = labels_for(i)
        cv2.imwrite(str(frame_path(root / "face/parsing", i, ".png")), lab)
        rgba = torso_rgba(img, lab, TorsoConfig())
        cv2.imwrite(str(frame_path(root / "face/torso", i, ".png")), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
        write_image(frame_path(root / "face/gt", i), np.where((lab == 1)[..., None], img, composite(rgba, bc)))
    write_image(root / "face/bc.jpg", bc)
    write_json(root / "ingest/frames.json", {"n_frames": N, "fps": 25, "size": S, "source": "test"})
    write_wav(root / "ingest/audio.wav", np.sin(np.arange(N * 640) / 9.0).astype(np.float32) * 0.3)
    pts = head_points()
    lms = np.stack([project(pts, i) for i in range(N)]).astype(np.float32)
    save_landmark_track(str(root / "face/landmarks.npz"),
                        LandmarkTrack(lms=lms, valid=np.ones(N, bool), interpolated=np.zeros(N, bool), score=np.ones(N, np.float32)))
    blinks = np.linspace(0, 1, N).astype(np.float32)
    np.save(root / "face/blinks.npy", blinks)
    write_au_csv(str(root / "face/au.csv"), blinks)
    np.save(root / "audio/features_mel.npy", rng.normal(size=(N, 16, 8)).astype(np.float32))
    np.save(root / "audio/features_deepspeech.npy", rng.normal(size=(N, 16, 29)).astype(np.float32))
    split = {"train": list(range(5)), "val": [5]}
    write_json(root / "split.json", split)
    R, t = zip(*(pose(i) for i in range(N)))
    track = HeadFit(focal=FOCAL, cx=(S - 1) / 2, cy=(S - 1) / 2, size=S, R=np.array(R), t=np.array(t),
                     expression=np.zeros((N, 16)), identity=np.zeros(218), reproj_err=np.zeros(N),
                     used=np.ones(N, bool), model="builtin")
    save_head_fit(root / "fit/track.npz", track)
    write_transforms(track, split, root / "fit/transforms_train.json", root / "fit/transforms_val.json")
    return root


def test_export_writes_the_reference_layout(results, tmp_path):
    out = tmp_path / "ref"
    summary = refdata.export_reference(str(results), str(out), str(results / "audio/features_mel.npy"), "mel",
                                       model=str(MODEL))
    assert summary == {"frames": N, "features": "aud_mel.npy", "transforms": True, "track_params": True}
    for name in ("bc.jpg", "aud.wav", "au.csv", "aud_mel.npy", "transforms_train.json", "transforms_val.json"):
        assert (out / name).exists(), name
    assert sorted(p.name for p in (out / "ori_imgs").iterdir())[:3] == ["0.jpg", "0.lms", "1.jpg"]
    assert np.loadtxt(out / "ori_imgs" / "3.lms").shape == (68, 2)
    # parsing colours exactly as the reference reads them with cv2 (B, G, R order)
    seg = cv2.imread(str(out / "parsing" / "2.png"))
    lab = labels_for(2)
    head = (seg[..., 0] == 255) & (seg[..., 1] == 0) & (seg[..., 2] == 0)
    neck = (seg[..., 0] == 0) & (seg[..., 1] == 255) & (seg[..., 2] == 0)
    torso = (seg[..., 0] == 0) & (seg[..., 1] == 0) & (seg[..., 2] == 255)
    bg = (seg == 255).all(axis=2)
    assert (head == (lab == 1)).all() and (neck == (lab == 2)).all() and (torso == (lab == 3)).all()
    assert (bg == (lab == 0)).all()
    assert cv2.imread(str(out / "torso_imgs" / "4.png"), cv2.IMREAD_UNCHANGED).shape == (S, S, 4)
    # the trainers read au.csv's ' AU45_r' column (with its leading space) and use clip(AU, 0, 2) / 2
    pd = pytest.importorskip("pandas")
    au = pd.read_csv(out / "au.csv")[" AU45_r"].values
    assert np.allclose(np.clip(au, 0, 2) / 2, np.linspace(0, 1, N), atol=1e-4)
    # cameras: OpenGL-style c2w = OpenCV c2w with y and z flipped
    t = json.loads((out / "transforms_val.json").read_text())
    assert "camera_convention" not in t and t["focal_len"] == 60.0
    assert (t["cx"], t["cy"], t["w"], t["h"]) == (S / 2, S / 2, S, S)
    assert np.allclose(t["frames"][0]["transform_matrix"], c2w(5) @ np.diag([1, -1, -1, 1]))
    # the audio under the training / validation frames, for GaussianTalker's render script
    assert len(read_wav(out / "aud_train.wav")[0]) == 5 * 640 and len(read_wav(out / "aud_novel.wav")[0]) == 640


def test_export_without_fit_outputs(results, tmp_path):
    for f in (results / "fit").iterdir():
        f.unlink()
    summary = refdata.export_reference(str(results), str(tmp_path / "ref"))
    assert summary["transforms"] is False and not (tmp_path / "ref" / "transforms_train.json").exists()
    assert summary["track_params"] is False and not (tmp_path / "ref" / "track_params.pt").exists()


def test_round_trip_export_import(results, tmp_path):
    ref = tmp_path / "ref"
    refdata.export_reference(str(results), str(ref), str(results / "audio/features_mel.npy"), "mel",
                             model=str(MODEL))
    back = tmp_path / "back"
    summary = refdata.import_reference(str(ref), str(back))
    assert summary["frames"] == N and summary["split"] == {"train": 5, "val": 1}
    assert np.allclose(load_landmark_track(str(back / "face/landmarks.npz")).lms,
                       load_landmark_track(str(results / "face/landmarks.npz")).lms, atol=1e-5)
    for i in range(N):
        assert np.array_equal(read_image(frame_path(back / "face/parsing", i, ".png"), cv2.IMREAD_GRAYSCALE),
                              labels_for(i))
        assert np.array_equal(read_image(frame_path(back / "face/torso", i, ".png"), cv2.IMREAD_UNCHANGED),
                              read_image(frame_path(results / "face/torso", i, ".png"), cv2.IMREAD_UNCHANGED))
        assert (back / "face/torso_bg" / f"{i:06d}.jpg").exists() and (back / "face/gt" / f"{i:06d}.jpg").exists()
    assert np.allclose(np.load(back / "face/blinks.npy"), np.load(results / "face/blinks.npy"), atol=1e-4)
    assert np.allclose(np.load(back / "audio/features_mel.npy"), np.load(results / "audio/features_mel.npy"))
    assert np.load(back / "face/lips.npy").shape == (N, 4)
    wav, sr = read_wav(back / "ingest/audio.wav")
    assert sr == 16000 and len(wav) == N * 640
    for part in ("train", "val"):
        a = json.loads((results / f"fit/transforms_{part}.json").read_text())
        b = json.loads((back / f"fit/transforms_{part}.json").read_text())
        assert b["camera_convention"] == "opencv"
        for fa, fb in zip(a["frames"], b["frames"]):
            assert np.allclose(fa["transform_matrix"], fb["transform_matrix"])
    assert json.loads((back / "split.json").read_text()) == {"train": [0, 1, 2, 3, 4], "val": [5]}
    meta = json.loads((back / "ingest/frames.json").read_text())
    assert meta["n_frames"] == N and meta["size"] == S


def test_import_rejects_bad_folders(tmp_path):
    with pytest.raises(InputError, match="no ori_imgs"):
        refdata.import_reference(str(tmp_path), str(tmp_path / "out"))
    (tmp_path / "ori_imgs").mkdir()
    write_image(tmp_path / "ori_imgs" / "0.jpg", np.zeros((8, 8, 3), np.uint8))
    write_image(tmp_path / "ori_imgs" / "2.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="without gaps"):
        refdata.import_reference(str(tmp_path), str(tmp_path / "out"))


def test_colour_decoding_reports_unknown_colours():
    bgr = refdata.labels_to_colour(np.array([[0, 1], [2, 3]], np.uint8))
    bgr[0, 0] = (10, 20, 30)
    labels, bad = refdata.colour_to_labels(bgr)
    assert labels.tolist() == [[0, 1], [2, 3]] and bad == 1
