"""The audio token's mouth read-out: the tracked inner-lip gap, predicted from the audio alone.

Trained on images only, the deformation learns the mouth from whatever explains it first. On one voice
that can be the voice's timbre or the pose, and the mouth then barely follows another voice. Two things
anchor the audio token to the mouth instead (both from the training frames' own landmarks, so they hold on
any footage):
  - before the talker trains, `pretrain` fits the audio encoder and a linear read-out to the per-frame
    inner-lip gap of the tracked landmarks (`lip_gap_targets`, standardised over the training frames);
  - during training the same read-out stays a loss term (`loss.mouth`, `mouth_loss`).
The read-out is a training-only module (it is in the checkpoint, not in the saved model).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor, nn

from gtalker.audio.windowing import windows_batch
from gtalker.common import InputError
from gtalker.face.landmarks import load_landmark_track
from gtalker.metrics.landmarks import mouth_opening

log = logging.getLogger("gtalker.talker")


def usable_frames(usable: np.ndarray, indices: list[int]) -> np.ndarray:
    """The frames of `indices` whose face was found (detected or interpolated)."""
    indices = np.asarray(indices)
    return indices[usable[indices]]


def lip_gap_targets(landmarks_path: str, n_frames: int, train_indices: list[int]
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """Per frame of the video: the inner-lip gap over the eye-corner distance, standardised over the
    training frames -> (targets [N] float32, usable [N] bool: a detected or interpolated face); None when
    the training frames' mouth never moves (nothing to learn from)."""
    track = load_landmark_track(landmarks_path)
    if len(track.lms) != n_frames:
        raise InputError(f"{landmarks_path}: {len(track.lms)} frames of landmarks, the video has {n_frames}; "
                         "rerun rule detect_landmarks")
    gap = np.array([mouth_opening(lms) for lms in track.lms], dtype=np.float64)
    usable = (np.asarray(track.valid) | np.asarray(track.interpolated)) & np.isfinite(gap)
    train = usable_frames(usable, train_indices)
    if len(train) < 2 or np.std(gap[train]) < 1e-6:
        return None
    z = (gap - gap[train].mean()) / gap[train].std()
    return np.where(usable, z, 0.0).astype(np.float32), usable


def mouth_loss(readout: nn.Module, token: Tensor, target: Tensor, usable: Tensor) -> Tensor:
    """Mean squared error of the read-out of audio tokens [B,d] against standardised gaps [B] (usable only)."""
    err = (readout(token).squeeze(-1) - target) ** 2
    weight = usable.to(err.dtype)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)


def read_out(encoder: nn.Module, readout: nn.Module, features: np.ndarray, frames: np.ndarray) -> Tensor:
    """The read-out [len(frames)] of the given frames' audio windows (cut from features [N,16,C])."""
    device = next(encoder.parameters()).device
    return readout(encoder(torch.from_numpy(windows_batch(features, frames)).to(device))).squeeze(-1)


def predict_gaps(encoder: nn.Module, readout: nn.Module, features: np.ndarray, frames: np.ndarray,
                 chunk: int = 256) -> np.ndarray:
    """`read_out` of many frames, without gradients, a chunk of windows at a time."""
    with torch.no_grad():
        return torch.cat([read_out(encoder, readout, features, frames[i:i + chunk])
                          for i in range(0, len(frames), chunk)]).cpu().numpy()


class MouthTerm:
    """The read-out term of a training run: encoder, read-out, per-frame standardised gaps, usable mask."""

    def __init__(self, encoder: nn.Module, readout: nn.Module, targets: np.ndarray, usable: np.ndarray) -> None:
        self.encoder, self.readout = encoder, readout
        self.targets, self.usable = targets, usable

    @classmethod
    def for_run(cls, encoder: nn.Module | None, landmarks_path: str, n_frames: int, train_indices: list[int],
                d_model: int, device: torch.device) -> "MouthTerm | None":
        """The term for a model's audio encoder; None (logged) without an audio token or mouth motion."""
        if encoder is None:
            log.info("no audio token: loss.mouth and audio_pretrain are off")
            return None
        gaps = lip_gap_targets(landmarks_path, n_frames, train_indices)
        if gaps is None:
            log.warning("%s: the mouth never moves in the training frames; loss.mouth and audio_pretrain "
                        "are off for this run", landmarks_path)
            return None
        return cls(encoder, nn.Linear(d_model, 1).to(device), *gaps)

    def loss(self, audio: Tensor, index: Tensor) -> Tensor:
        """`mouth_loss` of a batch: audio windows [B,8,16,C] of the frames `index` [B]."""
        idx = index.long().cpu().numpy()
        return mouth_loss(self.readout, self.encoder(audio), torch.from_numpy(self.targets[idx]).to(audio.device),
                          torch.from_numpy(self.usable[idx]).to(audio.device))


def pretrain(encoder: nn.Module, readout: nn.Module, features: np.ndarray, targets: np.ndarray,
             frames: np.ndarray, steps: int, seed: int, lr: float = 1e-3, batch: int = 16,
             weight_decay: float = 1e-2) -> dict[str, float]:
    """Fit encoder + read-out to the lip gaps of `frames` (usable training frames; windows cut per batch, so
    memory does not grow with the video). Returns the read-out's correlation with the gaps before and after."""
    device = next(encoder.parameters()).device

    def corr() -> float:
        pred = predict_gaps(encoder, readout, features, frames)
        ok = np.isfinite(pred)
        return float(np.corrcoef(pred[ok], targets[frames][ok])[0, 1]) if pred[ok].std() > 0 else 0.0

    before = corr()
    gen = np.random.default_rng(seed)
    params = list(encoder.parameters()) + list(readout.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    skipped = 0
    for _ in range(steps):
        idx = gen.choice(frames, size=min(batch, len(frames)), replace=False)
        loss = ((read_out(encoder, readout, features, idx) - torch.from_numpy(targets[idx]).to(device)) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):  # a corrupt feature window: no update (training skips it likewise)
            skipped += 1
            continue
        loss.backward()
        opt.step()
    after = corr()
    log.info("audio pre-training: %d steps on %d frames (%d skipped: non-finite); read-out r with the tracked "
             "lip gap %.3f -> %.3f", steps, len(frames), skipped, before, after)
    return {"steps": steps, "skipped": skipped, "frames": int(len(frames)), "r_before": before, "r_after": after}
