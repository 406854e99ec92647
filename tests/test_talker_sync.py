"""The audio drives the mouth: a talker trained on a synthetic talking head follows the speech of the
validation passage (mouth-opening correlation r >= 0.7), and loses it when the validation poses are
rendered with another passage's audio or with silence (r < 0.3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gtalker.common import read_json
from gtalker.render.core import Timer, render_sequence
from gtalker.talker.deform import DeformConfig
from gtalker.talker.model import load
from gtalker.talker.train import TrainConfig, train
from talker_synth import audio_features, dark_fraction, mouth_signal, train_args, write_talking_dataset

CPU = torch.device("cpu")
SIZE = 48


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0  # a mouth that never moves does not follow the speech
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("sync")
    facts = write_talking_dataset(root, n_frames=120, n_val=40, size=SIZE, n_gaussians=1000, seed=0)
    out = root / "talker"
    train(**train_args(root, out), deform_cfg=DeformConfig.from_dict({"mode": "attention", "query": "posenc"}),
          cfg=TrainConfig(size=SIZE, iterations=300, batch_size=4, workers=0, log_every=25), device=CPU)
    return root, facts, out / "model.pt"


def mouth_curve(root: Path, model_path: Path, val: list[int], feats: np.ndarray, lips: np.ndarray) -> np.ndarray:
    model = load(model_path)
    frames = render_sequence(model, str(root), val, feats, val, SIZE, CPU, Timer(CPU), batch=4)
    return np.array([dark_fraction(img, lips[i]) for i, img in zip(val, frames)])


@pytest.mark.slow
def test_audio_drives_the_mouth(trained: tuple[Path, dict, Path]) -> None:
    root, facts, model_path = trained
    val = read_json(root / "split.json")["val"]
    truth = facts["m"][val]
    lips = facts["lips"]
    own = np.load(root / "audio/features_mel.npy")
    # the measure itself sees the mouth on the real frames
    from gtalker.io.frames import read_frame

    real = [dark_fraction(read_frame(root / "face/gt", i), lips[i]) for i in val]
    assert pearson(real, truth) > 0.9
    r_own = pearson(mouth_curve(root, model_path, val, own, lips), truth)
    other_mouth = mouth_signal(len(own), seed=5)  # another passage's speech...
    assert abs(pearson(other_mouth[val], truth)) < 0.4  # ...that does not itself follow this one
    other = audio_features(other_mouth, seed=5)
    r_other = pearson(mouth_curve(root, model_path, val, other, lips), truth)
    r_silence = pearson(mouth_curve(root, model_path, val, np.zeros_like(own), lips), truth)
    assert r_own >= 0.7, (r_own, r_other, r_silence)
    assert r_other < 0.3, (r_own, r_other, r_silence)
    assert r_silence < 0.3, (r_own, r_other, r_silence)
