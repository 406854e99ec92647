"""Training of the deformation stage on top of a trained canonical head.

Batches of frames stream from disk (FrameDataset, bounded cache); each batch is deformed and rasterised
frame by frame at the training resolution. A non-finite loss or gradient skips the step and halves the
learning rate (logged); training never restarts from zero. An atomic checkpoint is written every
`checkpoint_every` steps and a rerun with the same inputs and settings resumes from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from gtalker.canonical.model import CanonicalHead
from gtalker.common import InputError, atomic_path, grads_finite, read_json, sha256_file, write_json
from gtalker.data import FrameDataset
from gtalker.rng import restore_rng, rng_state
from gtalker.talker.deform import DeformConfig
from gtalker.imaging import psnr
from gtalker.talker.augment import AudioAugment, augment_audio
from gtalker.talker.losses import talker_loss
from gtalker.talker.model import Conditions, TalkingHead, save
from gtalker.talker.mouth_prior import MouthTerm, pretrain, usable_frames

log = logging.getLogger("gtalker.talker")

FIELDS = ("image", "background", "K", "viewmat", "lip_box", "audio", "blink")


@dataclass
class TrainConfig:
    """Optimisation settings of the deformation stage (the non-architecture keys of `talker:`)."""

    size: int = 256
    iterations: int = 800
    batch_size: int = 4
    lr: float = 1e-3
    lr_final: float = 5e-4
    train_canonical: bool = False
    canonical_lr: float = 1e-4
    loss_l1: float = 0.8
    loss_ssim: float = 0.2
    loss_lip: float = 0.4
    loss_perceptual: float = 0.01
    loss_mouth: float = 0.1      # audio token's read-out of the tracked lip gap (gtalker.talker.mouth_prior)
    audio_pretrain: int = 1500   # steps fitting the audio encoder to the lip gap before training (0 = off)
    perceptual_weights: str = "resources/vgg16-397923af.pth"
    checkpoint_every: int = 50
    log_every: int = 10
    seed: int = 0
    workers: int = 1
    backend: str = "auto"
    augment_warp: float = 0.0    # training-time audio augmentation (gtalker.talker.augment; 0 = off)
    augment_tempo: float = 0.0
    augment_tilt: float = 0.0
    augment_gain: float = 0.0
    augment_noise: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def audio_augment(self) -> AudioAugment:
        return AudioAugment(warp=self.augment_warp, tempo=self.augment_tempo, tilt=self.augment_tilt,
                            gain=self.augment_gain, noise=self.augment_noise)

    def loss_weights(self) -> dict[str, float]:
        return {"l1": self.loss_l1, "ssim": self.loss_ssim, "lip": self.loss_lip,
                "perceptual": self.loss_perceptual, "mouth": self.loss_mouth}


class StepBatchSampler(Sampler[list[int]]):
    """Batches for steps [start, total): epoch-wise permutations seeded by (seed, epoch).

    Step s always gets the same batch, so a resumed run sees the same data order as an uninterrupted one.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int, start: int, total: int) -> None:
        if n_items < 1:
            raise InputError("no training frames: the split's train list is empty")
        self.n, self.batch = n_items, min(batch_size, n_items)
        self.seed, self.start, self.total = seed, start, total

    def batch_at(self, step: int) -> list[int]:
        per_epoch = self.n // self.batch
        epoch, j = divmod(step, per_epoch)
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        perm = torch.randperm(self.n, generator=gen)
        return perm[j * self.batch:(j + 1) * self.batch].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.total):
            yield self.batch_at(step)

    def __len__(self) -> int:
        return max(0, self.total - self.start)


def run_identity(deform: DeformConfig, train: TrainConfig, head_path: str, features_path: str,
                 train_indices: list[int]) -> str:
    """A hash of everything a checkpoint depends on; a checkpoint resumes only when it matches."""
    payload = {
        "deform": deform.to_dict(), "train": asdict(train), "head": sha256_file(head_path),
        "features": sha256_file(features_path), "train_indices": train_indices,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def lr_at(step: int, total: int, lr: float, lr_final: float) -> float:
    """Exponential decay from lr to lr_final over `total` steps."""
    t = min(max(step / max(total, 1), 0.0), 1.0)
    return float(lr * (lr_final / lr) ** t)


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process (and of the GPU when used), in MB."""
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def load_split(path: str | os.PathLike) -> dict[str, list[int]]:
    """The train/val split; InputError when it lacks a list."""
    split = read_json(path)
    for key in ("train", "val"):
        if key not in split or not isinstance(split[key], list):
            raise InputError(f"{path}: missing list '{key}'; rerun the rule that writes split.json")
    return split


def build_optimizer(model: TalkingHead, cfg: TrainConfig, readout: torch.nn.Module | None = None
                    ) -> torch.optim.Optimizer:
    """Adam over the deformation network and the mouth read-out (and the canonical head when it is
    fine-tuned)."""
    extra = list(readout.parameters()) if readout is not None else []
    groups = [{"params": [p for p in model.deform.parameters() if p.requires_grad] + extra, "lr": cfg.lr,
               "base": "deform"}]
    if cfg.train_canonical:
        groups.append({"params": [p for p in model.canonical.parameters() if p.requires_grad],
                       "lr": cfg.canonical_lr, "base": "canonical"})
    return torch.optim.Adam(groups, lr=cfg.lr)


def set_lrs(opt: torch.optim.Optimizer, cfg: TrainConfig, step: int, scale: float) -> float:
    """Apply the schedule times the non-finite back-off `scale`; returns the deformation lr."""
    deform_lr = lr_at(step, cfg.iterations, cfg.lr, cfg.lr_final) * scale
    for group in opt.param_groups:
        if group["base"] == "deform":
            group["lr"] = deform_lr
        else:
            group["lr"] = lr_at(step, cfg.iterations, cfg.canonical_lr, cfg.canonical_lr * 0.1) * scale
    return deform_lr


def perceptual_module(cfg: TrainConfig, device: torch.device) -> torch.nn.Module | None:
    """The VGG perceptual loss when its weight is > 0 and the weights file exists, else None (logged)."""
    if cfg.loss_perceptual <= 0:
        return None
    if not Path(cfg.perceptual_weights).exists():
        log.info("perceptual term off: %s not found (rule download_vgg16 fetches it)", cfg.perceptual_weights)
        return None
    from gtalker.talker.perceptual import PerceptualLoss, load_vgg16

    return PerceptualLoss(load_vgg16(cfg.perceptual_weights)).to(device)


def save_checkpoint(path: Path, model: TalkingHead, opt: torch.optim.Optimizer, state: dict[str, Any],
                    readout: torch.nn.Module | None = None) -> None:
    """Atomically write the resumable state."""
    payload = {
        "deform": model.deform.state_dict(),
        "mouth_readout": readout.state_dict() if readout is not None else None,
        "canonical": model.canonical.state_dict() if model.train_canonical else None,
        "optimizer": opt.state_dict(),
        "rng": rng_state(),
        **state,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def try_resume(path: Path, identity: str, model: TalkingHead, opt: torch.optim.Optimizer,
               readout: torch.nn.Module | None = None) -> dict[str, Any] | None:
    """Load a matching checkpoint into model/optimiser; None when absent, foreign or unreadable."""
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a corrupt checkpoint is ignored, never fatal
        log.warning("ignoring unreadable checkpoint %s (%s)", path, err)
        return None
    if ckpt.get("identity") != identity:
        log.info("checkpoint %s belongs to other inputs/settings; starting fresh", path)
        return None
    model.deform.load_state_dict(ckpt["deform"])
    if readout is not None and ckpt.get("mouth_readout") is not None:
        readout.load_state_dict(ckpt["mouth_readout"])
    if ckpt.get("canonical") is not None:
        model.canonical.load_state_dict(ckpt["canonical"])
        model.clear_cache()
    opt.load_state_dict(ckpt["optimizer"])
    restore_rng(ckpt.get("rng") or {"torch": ckpt["torch_rng"]})
    return ckpt


def one_thread(_worker: int) -> None:
    """Data-loading processes decode images only: one torch thread each, leaving the cores to training."""
    torch.set_num_threads(1)


def batch_to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}


def train_step(model: TalkingHead, opt: torch.optim.Optimizer, batch: dict[str, Any], cfg: TrainConfig,
               weights: dict[str, float], perceptual: torch.nn.Module | None,
               mouth: MouthTerm | None = None) -> dict[str, float] | None:
    """One optimisation step on a batch; None (and no update) when the loss or a gradient is not finite."""
    cond = Conditions(batch["audio"], batch["blink"], batch["viewmat"]).to(batch["image"].device)
    size = batch["image"].shape[1]
    pred, _ = model.render_batch(cond, batch["K"].float(), size, size, batch["background"].float(), cfg.backend)
    target = batch["image"].float()
    loss, parts = talker_loss(pred, target, batch["lip_box"], weights, perceptual)
    if mouth is not None:
        term = mouth.loss(cond.audio, batch["index"])
        loss = loss + weights["mouth"] * term
        parts["mouth"] = float(term.detach())
    opt.zero_grad(set_to_none=True)
    # NaN offsets can vanish from the image (the rasteriser culls such Gaussians): check them too
    ok = bool(torch.isfinite(loss)) and model.offsets_finite and loss.requires_grad
    if ok:
        loss.backward()
        ok = grads_finite(model)
    if not ok:
        opt.zero_grad(set_to_none=True)
        return None
    opt.step()
    return {**parts, "loss": float(loss.detach()), "psnr": float(psnr(pred.detach(), target))}


def audio_encoder(model: TalkingHead) -> torch.nn.Module | None:
    """The model's audio encoder (None without an audio token)."""
    tokens = getattr(model.deform.deformer, "tokens", None)
    return getattr(tokens, "audio", None)


def train(dataset_dir: str, head_path: str, features_path: str, split_path: str, out_model: str,
          out_log: str, deform_cfg: DeformConfig, cfg: TrainConfig, device: torch.device,
          checkpoint: str | None = None, stop_after: int | None = None) -> dict[str, Any]:
    """Train the deformation stage; write model and log. `stop_after` ends early (tests of resume)."""
    torch.manual_seed(cfg.seed)
    split = load_split(split_path)
    train_idx = [int(i) for i in split["train"]]
    canonical = CanonicalHead.load(head_path, map_location="cpu")
    features = np.load(features_path, mmap_mode="r")
    if features.ndim != 3:
        raise InputError(f"{features_path}: audio features must be [N,16,C], got shape {features.shape}")
    deform_cfg.audio_channels = int(features.shape[2])
    model = TalkingHead(canonical, deform_cfg, train_canonical=cfg.train_canonical, train_size=cfg.size)
    dataset = FrameDataset(dataset_dir, train_idx, cfg.size, audio_features=features_path, fields=FIELDS)
    if deform_cfg.mouth_tokens:
        from gtalker.talker.probe import mouth_gaussians

        cams = [dataset.camera(i) for i in train_idx]
        lips = np.load(Path(dataset_dir) / "face" / "lips.npy")[train_idx] * (cfg.size / dataset.source_size())
        mouth = mouth_gaussians(model.canonical_inputs()[0]["means"],
                                torch.as_tensor(np.stack([c[0] for c in cams])).float(),
                                torch.as_tensor(np.stack([c[1] for c in cams])).float(), torch.as_tensor(lips))
        model.deform.deformer.set_mouth(mouth)
        log.info("mouth_tokens %s: %d of %d Gaussians are the mouth's", list(deform_cfg.mouth_tokens),
                 int(mouth.sum()), int(mouth.numel()))
    view = getattr(getattr(model.deform.deformer, "tokens", None), "view", None)
    if view is not None:
        view.fit_stats(torch.as_tensor(np.stack([dataset.camera(i)[1] for i in train_idx])))
    model.to(device)
    mouth_term = None
    if cfg.loss_mouth > 0 or cfg.audio_pretrain > 0:
        mouth_term = MouthTerm.for_run(audio_encoder(model), str(Path(dataset_dir) / "face" / "landmarks.npz"),
                                       int(features.shape[0]), train_idx, deform_cfg.d_model, device)
    readout = mouth_term.readout if mouth_term is not None else None
    opt = build_optimizer(model, cfg, readout)
    perceptual = perceptual_module(cfg, device)
    weights = cfg.loss_weights()
    augment = cfg.audio_augment()
    if augment.active:
        log.info("audio augmentation on: %s", augment)

    identity = run_identity(deform_cfg, cfg, head_path, features_path, train_idx)
    ckpt_path = Path(checkpoint) if checkpoint else Path(out_model).with_name("checkpoint.pt")
    state: dict[str, Any] = {"identity": identity, "step": 0, "lr_scale": 1.0, "elapsed": 0.0,
                             "history": [], "skipped": [], "resumed_at": [], "audio_pretrain": None}
    resumed = try_resume(ckpt_path, identity, model, opt, readout)
    if resumed is not None:
        for key in state:
            state[key] = resumed.get(key, state[key])
        state["resumed_at"] = list(state["resumed_at"]) + [state["step"]]
        log.info("resuming from %s at step %d", ckpt_path, state["step"])
    elif mouth_term is not None and cfg.audio_pretrain > 0:
        state["audio_pretrain"] = pretrain(mouth_term.encoder, mouth_term.readout, features, mouth_term.targets,
                                           usable_frames(mouth_term.usable, train_idx), cfg.audio_pretrain, cfg.seed)

    sampler = StepBatchSampler(len(dataset), cfg.batch_size, cfg.seed, state["step"], cfg.iterations)
    # the loader gets its own generator so that it never draws from the global RNG (dropout's), which
    # the checkpoint restores: a resumed run then continues exactly like an uninterrupted one
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.workers,
                        generator=torch.Generator().manual_seed(cfg.seed), worker_init_fn=one_thread,
                        persistent_workers=False, prefetch_factor=2 if cfg.workers > 0 else None)
    model.train()
    n_gauss = model.n_gaussians
    log.info("training %d steps (from %d), batch %d at %d px, %d Gaussians, %d train frames, device %s",
             cfg.iterations, state["step"], sampler.batch, cfg.size, n_gauss, len(dataset), device)
    seg_start = time.perf_counter()
    elapsed0 = state["elapsed"]
    bar = tqdm(total=cfg.iterations, initial=state["step"], desc="talker", unit="step", mininterval=5)
    window: list[dict[str, float]] = []
    for batch in loader:
        step = state["step"]
        lr = set_lrs(opt, cfg, step, state["lr_scale"])
        if augment.active:  # its own generator per step: a resumed run draws the same as an unbroken one
            batch["audio"] = augment_audio(batch["audio"], augment,
                                           torch.Generator().manual_seed(cfg.seed * 1_000_003 + step))
        parts = train_step(model, opt, batch_to(batch, device), cfg, weights, perceptual,
                           mouth_term if cfg.loss_mouth > 0 else None)
        if parts is not None:
            window.append(parts)
        else:
            state["lr_scale"] *= 0.5
            state["skipped"].append({"step": step, "lr_scale": state["lr_scale"]})
            log.warning("step %d: non-finite loss/gradient; step skipped, lr scale now %.3g",
                        step, state["lr_scale"])
        state["step"] = step + 1
        bar.update(1)
        if window and (state["step"] % cfg.log_every == 0 or state["step"] == cfg.iterations):
            mean = {k: float(np.mean([w[k] for w in window if k in w])) for k in window[-1]}
            elapsed = elapsed0 + time.perf_counter() - seg_start
            state["history"].append({"step": state["step"], "lr": lr, "time": elapsed, **mean})
            log.info("step %d loss %.4f psnr %.2f lip %.4f lr %.2e", state["step"], mean["loss"],
                     mean["psnr"], mean["lip"], lr)
            window = []
        if state["step"] % cfg.checkpoint_every == 0 and state["step"] < cfg.iterations:
            state["elapsed"] = elapsed0 + time.perf_counter() - seg_start
            save_checkpoint(ckpt_path, model, opt, state, readout)
        if stop_after is not None and state["step"] >= stop_after:
            break
    bar.close()
    state["elapsed"] = elapsed0 + time.perf_counter() - seg_start
    if state["step"] < cfg.iterations:  # stopped early on purpose: leave a checkpoint, no outputs
        save_checkpoint(ckpt_path, model, opt, state, readout)
        return state
    model.eval()
    summary = {
        "steps": state["step"], "iterations": cfg.iterations, "train_seconds": state["elapsed"],
        "n_gaussians": n_gauss, "n_train_frames": len(dataset), "batch_size": sampler.batch,
        "size": cfg.size, "device": str(device), "skipped_steps": len(state["skipped"]),
        "skipped": state["skipped"],
        "resumed_at": state["resumed_at"], "final_lr_scale": state["lr_scale"],
        "perceptual": perceptual is not None, "audio_pretrain": state["audio_pretrain"],
        "history": state["history"],
        "deform_config": deform_cfg.to_dict(), "train_config": asdict(cfg), **peak_memory_mb(device),
    }
    save(model, out_model, extra={"train_summary": {k: v for k, v in summary.items() if k != "history"}})
    write_json(out_log, summary)
    ckpt_path.unlink(missing_ok=True)
    return summary
