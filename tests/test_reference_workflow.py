"""The tiny demo exported to the reference layout, read as GaussianTalker and ER-NeRF read it, then named as
a dataset (`datasets: {ref: {reference: results/demo/reference}}`) and trained on to the metrics.

The audio backend is DeepSpeech through a small ONNX graph with the v0.1.0 signature (made by the test), so
that the export holds the aud_ds.npy the trainers read.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import snakemake
from test_audio_features import make_deepspeech_graph
from test_reference_readers import read_as_ernerf, read_as_gaussiantalker
from test_workflow import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny demo run up to its reference export, with DeepSpeech features."""
    pytest.importorskip("onnx")
    workdir = tmp_path_factory.mktemp("refwf")
    graph = workdir / "ds.onnx"
    make_deepspeech_graph(graph)
    cfg = {**TINY, "audio_features": {"backend": "deepspeech", "deepspeech_model": str(graph)}}
    (workdir / "base.json").write_text(json.dumps(cfg))
    snakemake(workdir, cfg, ["results/demo/reference", "results/demo/face/lips.npy",
                             "results/demo/fit/points_mesh.ply"])
    return workdir


def landmarks_3d(workdir: Path):
    """Our fitted 3D landmarks of frame i (metres, head frame): model landmarks with the track's identity
    and expression, plus the video's own modes."""
    from gtalker.fit.facemodel import load
    from gtalker.fit.tracker import load_head_fit

    track = load_head_fit(workdir / "results/demo/fit/track.npz")
    model = load(Path(__file__).resolve().parents[1] / "resources/face_models/builtin.npz")
    mean, idb, exb = model.landmark_arrays()
    neutral = mean + np.tensordot(track.identity, idb, axes=1)
    E = exb.shape[0]

    def points(i: int) -> np.ndarray:
        X = neutral + np.tensordot(track.expression[i, :E], exb, axes=1)
        if len(track.video_modes):
            X = X + np.tensordot(track.expression[i, E:E + len(track.video_modes)], track.video_modes, axes=1)
        return X

    return track, points


def test_gaussiantalker_and_ernerf_read_the_demo_export(exported: Path) -> None:
    folder = exported / "results/demo/reference"
    track, points = landmarks_3d(exported)
    got = read_as_gaussiantalker(folder, points)
    n = json.loads((exported / "results/demo/ingest/frames.json").read_text())["n_frames"]
    assert got["timeline"] == n
    ours = []
    for i in range(n):
        q = points(i) @ track.R[i].T + track.t[i]
        ours.append(track.focal * q[:, :2] / q[:, 2:3] + track.cx)
    ours = np.stack(ours)
    # their 3DGS camera reproduces ours exactly; the tracker's own formula (cx = w/2) within 1 px
    assert np.abs(np.stack(got["gs"]) - ours).max() < 1e-3
    assert np.linalg.norm(np.stack(got["tracker"]) - ours, axis=-1).max() < 1.0
    for i, px in read_as_ernerf(folder, points):
        assert np.abs(px - ours[i]).max() < 1e-3
    # against the .lms: no worse than our own fit (its median error) plus the tracker's half pixel
    lms_err = np.array(got["gs_vs_lms"])
    assert np.median(lms_err) <= np.nanmedian(track.reproj_err) + 0.75
    print(f"demo export: median landmark error (mean over 68 points) with GaussianTalker's camera "
          f"{np.median(lms_err):.3f} px, with the tracker's formula {np.median(got['tracker_vs_lms']):.3f} px, "
          f"our fit's reproj_err median {np.nanmedian(track.reproj_err):.3f} px")


def test_reference_folder_as_a_dataset_runs_to_metrics(exported: Path) -> None:
    cfg = json.loads((exported / "base.json").read_text())
    cfg["datasets"] = {"ref": {"reference": "results/demo/reference"}}
    snakemake(exported, cfg, ["results/ref/base/metrics.json"])
    metrics = json.loads((exported / "results/ref/base/metrics.json").read_text())
    assert metrics and (exported / "logs/ref/reference/import_reference.log").exists()
    a, b = exported / "results/demo", exported / "results/ref"
    # none of our preprocessing or tracking ran for it
    assert not (b / "ingest/probe.json").exists() and not (b / "face/parsing_fine").exists()
    # the same training inputs as our own preprocessing
    meta = json.loads((a / "ingest/frames.json").read_text())
    n = meta["n_frames"]
    assert json.loads((b / "ingest/frames.json").read_text())["n_frames"] == n
    assert json.loads((b / "split.json").read_text()) == json.loads((a / "split.json").read_text())
    for i in range(n):
        for sub, ext in (("ingest/frames", ".jpg"), ("face/gt", ".jpg"), ("face/torso", ".png")):
            name = f"{i:06d}{ext}"
            assert (a / sub / name).read_bytes() == (b / sub / name).read_bytes(), f"{sub}/{name}"
        pa = cv2.imread(str(a / "face/parsing" / f"{i:06d}.png"), cv2.IMREAD_GRAYSCALE)
        pb = cv2.imread(str(b / "face/parsing" / f"{i:06d}.png"), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(pa, pb)
        ta = cv2.imread(str(a / "face/torso_bg" / f"{i:06d}.jpg")).astype(int)
        tb = cv2.imread(str(b / "face/torso_bg" / f"{i:06d}.jpg")).astype(int)
        assert np.abs(ta - tb).mean() < 0.5
    assert np.array_equal(np.load(a / "face/lips.npy"), np.load(b / "face/lips.npy"))
    assert np.allclose(np.load(a / "face/blinks.npy"), np.load(b / "face/blinks.npy"), atol=1e-4)
    assert np.array_equal(np.load(a / "audio/features_deepspeech.npy"), np.load(b / "audio/features_deepspeech.npy"))
    ta, tb = np.load(a / "fit/track.npz"), np.load(b / "fit/track.npz")
    assert float(ta["focal"]) == pytest.approx(float(tb["focal"]), abs=1e-4)
    assert float(ta["cx"]) == float(tb["cx"]) and int(ta["size"]) == int(tb["size"])
    assert np.abs(ta["R"] - tb["R"]).max() < 1e-4 and np.abs(ta["t"] - tb["t"]).max() < 1e-4
    # the initial points of the mesh: track_params.pt's vertices are our points_mesh.ply's
    from gtalker.fit.points import read_ply

    pa, pb = read_ply(a / "fit/points_mesh.ply")[0], read_ply(b / "fit/points_mesh.ply")[0]
    assert pa.shape == pb.shape and np.abs(pa - pb).max() < 1e-5
    for part in ("train", "val"):
        ja = json.loads((a / f"fit/transforms_{part}.json").read_text())
        jb = json.loads((b / f"fit/transforms_{part}.json").read_text())
        assert (ja["cx"], ja["w"]) == (jb["cx"], jb["w"])
        for fa, fb in zip(ja["frames"], jb["frames"], strict=True):
            assert fa["img_id"] == fb["img_id"]
            assert np.abs(np.array(fa["transform_matrix"]) - np.array(fb["transform_matrix"])).max() < 1e-4
