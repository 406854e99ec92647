"""The face rules run end to end on a tiny demo video; config changes rerun exactly the affected jobs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import planned_rules, snakemake

SMALL = {"demo": {"seconds": 2, "size": 128, "seed": 0, "voice": "formant"}, "preprocess": {"fps": 25, "size": 128, "jpeg_quality": 95}}
FACE_TARGETS = ["results/demo/face/torso_bg", "results/demo/face/lips.npy", "results/demo/face/au.csv",
                "results/demo/split.json", "results/demo/reference"]


@pytest.mark.slow
def test_face_stage_end_to_end(tmp_path: Path):
    snakemake(tmp_path, SMALL, FACE_TARGETS)
    d = tmp_path / "results" / "demo"
    lms = np.load(d / "face" / "landmarks.npz")
    assert lms["lms"].shape == (50, 68, 2) and lms["valid"].all()
    assert len(list((d / "face" / "parsing").glob("*.png"))) == 50
    assert len(list((d / "face" / "torso").glob("*.png"))) == 50
    assert np.load(d / "face" / "lips.npy").shape == (50, 4)
    assert np.load(d / "face" / "blinks.npy").shape == (50,)
    assert json.loads((d / "split.json").read_text())["val"] == list(range(25, 50))
    assert (d / "reference" / "ori_imgs" / "49.lms").exists() and (d / "reference" / "au.csv").exists()
    for log in ("detect_landmarks", "parse_faces", "composite_torso"):
        assert (tmp_path / "logs" / "demo" / "face" / f"{log}.log").stat().st_size > 0

    # a parsing setting reruns parsing and what depends on it, not the landmarks
    changed = {**SMALL, "parsing": {"backend": "heuristic", "heuristic": {"diff_fg": 20}}}
    plan = planned_rules(snakemake(tmp_path, changed, FACE_TARGETS, extra=["-n"]))
    assert "parse_faces" in plan and "composite_torso" in plan and "detect_landmarks" not in plan
    # the split fraction reruns only the split (and the export)
    plan = planned_rules(snakemake(tmp_path, {**SMALL, "split": {"train_fraction": 0.5}}, FACE_TARGETS,
                                   extra=["-n"]))
    assert "split_dataset" in plan and "parse_faces" not in plan


@pytest.mark.slow
def test_bisenet_backend_without_weights_fails_clearly(tmp_path: Path):
    cfg = {**SMALL, "parsing": {"backend": "bisenet", "bisenet": {"weights": "resources/79999_iter.pth"}}}
    proc = snakemake(tmp_path, cfg, ["results/demo/face/parsing"], check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "_resources" / "download_bisenet_weights.log").read_text()
    assert "79999_iter.pth" in log and "parsing.backend: heuristic" in log
    assert not (tmp_path / "resources" / "79999_iter.pth").exists()
