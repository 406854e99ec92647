"""The audio token's mouth read-out (gtalker.talker.mouth_prior): targets, loss, pre-training, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gtalker.common import InputError
from gtalker.face.landmarks import LandmarkTrack, save_landmark_track
from gtalker.talker.deform import DeformConfig
from gtalker.talker.model import load
from gtalker.talker.mouth_prior import lip_gap_targets, mouth_loss, predict_gaps, pretrain, usable_frames
from gtalker.talker.tokens import AudioEncoder
from gtalker.talker.train import TrainConfig, train
from talker_synth import mouth_landmarks, train_args, write_talking_dataset


def write_track(path: Path, openings: np.ndarray, valid: np.ndarray | None = None) -> None:
    lms = np.stack([mouth_landmarks(50.0, 60.0, 10.0, float(o)) for o in openings])
    n = len(openings)
    ok = np.ones(n, bool) if valid is None else valid
    save_landmark_track(str(path), LandmarkTrack(lms, ok, np.zeros(n, bool), np.ones(n)))


def test_targets_are_the_standardised_lip_gap_of_the_training_frames(tmp_path: Path) -> None:
    openings = np.array([0.0, 0.5, 1.0, 0.25, 2.0, 0.7])
    valid = np.array([True, True, True, True, True, False])
    write_track(tmp_path / "lms.npz", openings, valid)
    gaps = lip_gap_targets(str(tmp_path / "lms.npz"), 6, [0, 1, 2, 5])
    assert gaps is not None
    z, usable = gaps
    # gap / eye distance = opening * 10 / 40; standardised over the usable training frames 0, 1, 2
    ratio = openings * 0.25
    expected = (ratio - ratio[:3].mean()) / ratio[:3].std()
    assert usable.tolist() == valid.tolist()
    assert np.allclose(z[:5], expected[:5], atol=1e-5)
    assert z[5] == 0.0


def test_a_still_mouth_gives_no_targets_and_a_wrong_length_is_named(tmp_path: Path) -> None:
    write_track(tmp_path / "lms.npz", np.full(5, 0.3))
    assert lip_gap_targets(str(tmp_path / "lms.npz"), 5, [0, 1, 2]) is None
    with pytest.raises(InputError, match="5 frames of landmarks, the video has 7"):
        lip_gap_targets(str(tmp_path / "lms.npz"), 7, [0, 1, 2])


def test_loss_counts_only_usable_frames() -> None:
    readout = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        readout.weight.copy_(torch.tensor([[1.0, 0.0]]))
    token = torch.tensor([[1.0, 5.0], [3.0, 5.0], [100.0, 0.0]])
    target = torch.tensor([0.0, 1.0, 0.0])
    usable = torch.tensor([True, True, False])
    assert float(mouth_loss(readout, token, target, usable).detach()) == pytest.approx((1.0 + 4.0) / 2)


def test_pretraining_learns_the_gap_from_the_audio() -> None:
    rng = np.random.default_rng(0)
    n, channels = 120, 6
    gap = np.convolve(rng.normal(size=n), np.ones(5) / 5, mode="same").astype(np.float32)
    gap = (gap - gap.mean()) / gap.std()
    feats = rng.normal(0, 0.3, size=(n, 16, channels)).astype(np.float32)
    feats[:, 6:10, 2] += gap[:, None]  # channel 2 carries the mouth around each frame's centre
    torch.manual_seed(0)
    encoder, readout = AudioEncoder(channels, 16), torch.nn.Linear(16, 1)
    usable = np.ones(n, bool)
    stats = pretrain(encoder, readout, feats, gap, usable_frames(usable, list(range(100))), steps=300, seed=0)
    assert stats["r_after"] > 0.9 > abs(stats["r_before"])
    held_out = predict_gaps(encoder, readout, feats, np.arange(100, n))
    assert np.corrcoef(held_out, gap[100:])[0, 1] > 0.8


def test_training_with_the_read_out_resumes_exactly(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_talking_dataset(root, n_frames=24, n_val=6, size=32, n_gaussians=300)
    deform = {"mode": "attention", "query": "posenc", "posenc_freqs": 2, "d_model": 16, "ffn_dim": 32, "head_hidden": 16}
    cfg = dict(size=32, iterations=6, batch_size=2, workers=0, checkpoint_every=2, log_every=2,
               audio_pretrain=40, loss_mouth=0.5)
    whole = train(**train_args(root, tmp_path / "a"), deform_cfg=DeformConfig.from_dict(deform),
                  cfg=TrainConfig(**cfg), device=torch.device("cpu"))
    assert whole["audio_pretrain"]["steps"] == 40 and whole["audio_pretrain"]["r_after"] > 0.5
    assert all("mouth" in h for h in whole["history"])
    args = train_args(root, tmp_path / "b")
    train(**args, deform_cfg=DeformConfig.from_dict(deform), cfg=TrainConfig(**cfg), device=torch.device("cpu"),
          stop_after=4)
    resumed = train(**args, deform_cfg=DeformConfig.from_dict(deform), cfg=TrainConfig(**cfg),
                    device=torch.device("cpu"))
    assert resumed["resumed_at"] == [4] and resumed["audio_pretrain"] == whole["audio_pretrain"]
    a, b = load(tmp_path / "a" / "model.pt"), load(tmp_path / "b" / "model.pt")
    for (name, x), (_, y) in zip(a.deform.state_dict().items(), b.deform.state_dict().items()):
        assert torch.allclose(x, y, atol=1e-6), name
