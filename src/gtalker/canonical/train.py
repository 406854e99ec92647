"""Canonical stage training: fit the static Gaussian head to the training frames (method.md §2-3).

Random training view per step (batch 1), render over the frame's torso/background image, loss
(1 - lambda) L1 + lambda (1 - SSIM) against face/gt, Adam with per-parameter learning rates (positions
and networks decayed exponentially), SH degree +1 every `sh_increase_every` steps, 3DGS densification.
A non-finite loss or gradient skips the step and halves the learning rates (logged), as in the talker.
An atomic checkpoint is written every `checkpoint_every` steps next to the outputs; a rerun after an
interruption resumes from it when the settings and inputs are unchanged, and it is removed on success.
The final evaluation on training views reports PSNR in the head mask, the full frame, and per face region
(gtalker.canonical.regions), including the head mask without the mouth box of face/lips.npy: a static
head cannot follow the moving mouth, so that is the figure that measures the canonical stage itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gtalker.canonical.losses import photometric_loss
from gtalker.canonical.model import CanonicalHead
from gtalker.canonical.regions import RegionErrors, head_regions
from gtalker.common import InputError, atomic_path, grads_finite, write_json
from gtalker.data import FrameDataset, read_split
from gtalker.imaging import psnr
from gtalker.rng import restore_rng, rng_state
from gtalker.splat import ply
from gtalker.splat.densify import DensifyConfig, DensifyStrategy, scene_extent

log = logging.getLogger("gtalker.canonical")
CHECKPOINT_FORMAT = "gtalker.canonical.checkpoint/1"


@dataclass
class CanonicalConfig:
    """Every setting of the canonical stage (config.yaml `canonical:`, nested keys joined by '_')."""

    iterations: int = 1500
    resolution: int = 256
    init: str = "mesh"
    sh_degree: int = 3
    sh_increase_every: int = 250
    triplane: bool = True
    network_channels: int = 32
    network_resolutions: list[int] = field(default_factory=lambda: [64, 128])
    network_hidden: int = 64
    init_opacity: float = 0.1
    backend: str = "auto"
    seed: int = 0
    lambda_ssim: float = 0.2
    densify_start: int = DensifyConfig.start
    densify_stop: int = DensifyConfig.stop
    densify_every: int = DensifyConfig.every
    densify_grad_threshold: float = DensifyConfig.grad_threshold
    densify_percent_dense: float = DensifyConfig.percent_dense
    densify_max_gaussians: int = DensifyConfig.max_gaussians
    densify_prune_opacity: float = DensifyConfig.prune_opacity
    densify_opacity_reset_every: int = DensifyConfig.opacity_reset_every
    lr_means: float = 1.6e-4
    lr_means_final: float = 1.6e-6
    lr_log_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacity: float = 0.05
    lr_sh_dc: float = 2.5e-3
    lr_sh_rest: float = 1.25e-4
    lr_planes: float = 1e-2
    lr_planes_final: float = 1e-3
    lr_mlp: float = 1e-3
    lr_mlp_final: float = 1e-4
    checkpoint_every: int = 200
    log_every: int = 25
    eval_views: int = 32

    def densify(self) -> DensifyConfig:
        return DensifyConfig(start=self.densify_start, stop=self.densify_stop, every=self.densify_every,
                             grad_threshold=self.densify_grad_threshold, percent_dense=self.densify_percent_dense,
                             max_gaussians=self.densify_max_gaussians, prune_opacity=self.densify_prune_opacity,
                             opacity_reset_every=self.densify_opacity_reset_every)


def exp_decay(step: int, total: int, start: float, end: float) -> float:
    """Log-linear interpolation from `start` (step 0) to `end` (step `total`)."""
    if start <= 0 or end <= 0:
        return start
    t = min(max(step / max(total, 1), 0.0), 1.0)
    return math.exp((1 - t) * math.log(start) + t * math.log(end))


def build_optimizer(head: CanonicalHead, cfg: CanonicalConfig, extent: float) -> torch.optim.Adam:
    """Adam with one named group per parameter kind; groups carry their lr schedule ends."""
    g = head.gaussians
    groups: list[dict[str, Any]] = [
        {"name": "means", "params": [g.means], "lr0": cfg.lr_means * extent, "lr1": cfg.lr_means_final * extent},
        {"name": "log_scales", "params": [g.log_scales], "lr0": cfg.lr_log_scales, "lr1": cfg.lr_log_scales},
        {"name": "quats", "params": [g.quats], "lr0": cfg.lr_quats, "lr1": cfg.lr_quats},
    ]
    if head.triplane is None:
        groups += [
            {"name": "opacity_logits", "params": [g.opacity_logits], "lr0": cfg.lr_opacity, "lr1": cfg.lr_opacity},
            {"name": "sh_dc", "params": [g.sh_dc], "lr0": cfg.lr_sh_dc, "lr1": cfg.lr_sh_dc},
            {"name": "sh_rest", "params": [g.sh_rest], "lr0": cfg.lr_sh_rest, "lr1": cfg.lr_sh_rest},
        ]
    else:
        for name in ("opacity_logits", "sh_dc", "sh_rest"):  # predicted by the networks instead
            getattr(g, name).requires_grad_(False)
        groups += [
            {"name": "planes", "params": list(head.triplane.parameters()), "lr0": cfg.lr_planes,
             "lr1": cfg.lr_planes_final},
            {"name": "mlp", "params": list(head.opacity_mlp.parameters()) + list(head.color_mlp.parameters()),
             "lr0": cfg.lr_mlp, "lr1": cfg.lr_mlp_final},
        ]
    for grp in groups:
        grp["lr"] = grp["lr0"]
    return torch.optim.Adam(groups, lr=0.0, eps=1e-15, fused=True)


def set_learning_rates(optimizer: torch.optim.Optimizer, step: int, total: int, scale: float = 1.0) -> None:
    """Each group's exponential schedule times the non-finite back-off `scale`."""
    for grp in optimizer.param_groups:
        grp["lr"] = exp_decay(step, total, grp["lr0"], grp["lr1"]) * scale


def fingerprint(cfg: CanonicalConfig, inputs: list[Path]) -> str:
    """Identity of a run: settings + (size, mtime) of the input files, to decide whether to resume."""
    parts: list[Any] = [dataclasses.asdict(cfg)]
    for p in inputs:
        st = p.stat() if p.exists() else None
        parts.append([str(p), st.st_size if st else None, st.st_mtime_ns if st else None])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ViewSampler:
    """Random permutations of the training views, one epoch after another (resumable)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.gen = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.gen)
        self.pos = 0

    def next(self) -> int:
        if self.pos >= self.n:
            self.perm = torch.randperm(self.n, generator=self.gen)
            self.pos = 0
        self.pos += 1
        return int(self.perm[self.pos - 1])

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, s: dict) -> None:
        self.gen.set_state(s["gen"])
        self.perm, self.pos = s["perm"], int(s["pos"])


def save_checkpoint(path: Path, step: int, head: CanonicalHead, optimizer: torch.optim.Optimizer,
                    strategy: DensifyStrategy, sampler: ViewSampler, history: dict, fp: str) -> None:
    blob = {"format": CHECKPOINT_FORMAT, "fingerprint": fp, "step": step, "head_config": head.config(),
            "head": head.state_dict(), "optimizer": optimizer.state_dict(), "densify": strategy.state_dict(),
            "sampler": sampler.state_dict(), "history": history, "rng": rng_state()}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_checkpoint(path: Path, fp: str) -> dict | None:
    """The checkpoint at `path` if it belongs to this run (same fingerprint), else None."""
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - a corrupt checkpoint only costs a restart
        log.warning("ignoring unreadable checkpoint %s (%s)", path, err)
        return None
    if blob.get("format") != CHECKPOINT_FORMAT or blob.get("fingerprint") != fp:
        log.info("checkpoint %s is from other settings or inputs; starting from scratch", path)
        return None
    return blob


def evaluate(head: CanonicalHead, ds: FrameDataset, views: list[int], backend: str,
             device: torch.device) -> dict[str, Any]:
    """PSNR over dataset items `views`: means over the views of the per-view PSNR in the head mask, in the
    head mask without the mouth box, and in the full frame; and PSNR pooled over the views per face region
    (gtalker.canonical.regions: border, mouth box, rest; head, head without the mouth box)."""
    head_psnr, no_mouth_psnr, full_psnr = [], [], []
    regions = RegionErrors()
    with torch.no_grad():
        attrs = head.activate(head.raw_attributes())
        for i in views:
            item = ds[i]
            res = ds.size
            out = head.render(item["K"].to(device), item["viewmat"].to(device), res, res,
                              background=item["background"].to(device), backend=backend, attrs=attrs)
            pred = out.color.cpu()
            head_psnr.append(psnr(pred, item["image"], item["head_mask"]))
            full_psnr.append(psnr(pred, item["image"]))
            parts = head_regions(item["head_mask"].numpy(), item["lip_box"].numpy())
            regions.add(pred.numpy(), item["image"].numpy(), parts)
            no_mouth_psnr.append(psnr(pred, item["image"], torch.from_numpy(parts["head_no_mouth"])))

    def mean(values: list[float]) -> float:
        finite = [p for p in values if math.isfinite(p)]
        return float(np.mean(finite)) if finite else float("nan")

    return {"psnr_head": mean(head_psnr), "psnr_head_no_mouth": mean(no_mouth_psnr),
            "psnr_full": float(np.mean(full_psnr)), "n_views": len(views),
            "regions": {name: round(v, 3) for name, v in regions.psnr().items()},
            "region_share": {name: round(v, 4) for name, v in regions.share().items()}}


def train(dataset_dir: str, points: str, head_out: str, ply_out: str, log_out: str, cfg: CanonicalConfig,
          device: torch.device, checkpoint: str | None = None) -> dict[str, Any]:
    """Train the canonical head; write head.pt, gaussians.ply and train_log.json. Returns the final log."""
    root = Path(dataset_dir)
    split = read_split(root)
    ds = FrameDataset(str(root), split["train"], cfg.resolution,
                      fields=("image", "background", "head_mask", "K", "viewmat", "lip_box"))
    ckpt_path = Path(checkpoint) if checkpoint else Path(head_out).with_name("checkpoint.pt")
    fp = fingerprint(cfg, [root / "split.json", root / "fit" / "track.npz", Path(points)])
    torch.manual_seed(cfg.seed)

    xyz, rgb = ply.read_points(points)
    pts = torch.from_numpy(xyz)
    extent = scene_extent(pts)
    state = load_checkpoint(ckpt_path, fp)
    if state is not None:
        head = CanonicalHead.from_config(state["head_config"])
        head.load_state_dict(state["head"])
    else:
        head = CanonicalHead.from_points(pts, torch.from_numpy(rgb) if rgb is not None else None,
                                         triplane=cfg.triplane, channels=cfg.network_channels,
                                         resolutions=tuple(cfg.network_resolutions), hidden=cfg.network_hidden,
                                         init_opacity=cfg.init_opacity, max_sh_degree=cfg.sh_degree)
    head.to(device)
    optimizer = build_optimizer(head, cfg, extent)
    strategy = DensifyStrategy(cfg.densify(), extent, seed=cfg.seed, total_steps=cfg.iterations)
    sampler = ViewSampler(len(ds), cfg.seed)
    history: dict[str, Any] = {"step": [], "loss": [], "psnr": [], "n_gaussians": [], "time_s": [],
                               "densify": [], "skipped_steps": 0, "skipped": [], "lr_scale": 1.0,
                               "resumed_from": [], "train_time_s": 0.0}
    start = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        for grp, saved in zip(optimizer.param_groups, state["optimizer"]["param_groups"]):
            grp["lr0"], grp["lr1"] = saved["lr0"], saved["lr1"]
        strategy.load_state_dict(state["densify"])
        sampler.load_state_dict(state["sampler"])
        history = state["history"]
        restore_rng(state.get("rng") or {"torch": state["torch_rng"]})
        start = int(state["step"])
        history["resumed_from"].append(start)
        log.info("resumed from checkpoint %s at step %d (%d Gaussians)", ckpt_path, start, head.gaussians.num)
    else:
        log.info("starting from %d points (%s), extent %.4f, triplane=%s", len(xyz), points, extent, cfg.triplane)

    res = cfg.resolution
    t0 = time.perf_counter() - history["train_time_s"]
    for step in tqdm(range(start + 1, cfg.iterations + 1), initial=start, total=cfg.iterations,
                     desc="canonical", mininterval=5.0):
        set_learning_rates(optimizer, step, cfg.iterations, history["lr_scale"])
        if cfg.sh_increase_every > 0 and step % cfg.sh_increase_every == 0:
            head.gaussians.step_sh_degree()
        item = ds[sampler.next()]
        target = item["image"].to(device)
        out = head.render(item["K"].to(device), item["viewmat"].to(device), res, res,
                          background=item["background"].to(device), backend=cfg.backend)
        loss = photometric_loss(out.color, target, cfg.lambda_ssim)
        optimizer.zero_grad(set_to_none=True)
        ok = bool(torch.isfinite(loss))
        if ok:
            loss.backward()
            ok = grads_finite(head) and (out.means2d.grad is None or bool(torch.isfinite(out.means2d.grad).all()))
        if not ok:  # as the talker: skip the step, halve the learning rates from here on
            optimizer.zero_grad(set_to_none=True)
            history["lr_scale"] *= 0.5
            history["skipped_steps"] += 1
            history["skipped"].append({"step": step, "lr_scale": history["lr_scale"]})
            log.warning("step %d: non-finite loss/gradient; step skipped, lr scale now %.3g", step,
                        history["lr_scale"])
            continue
        optimizer.step()
        events = strategy.step_post_backward(step, head.gaussians, optimizer, out.means2d.grad, out.radii, res,
                                             res, head.opacities)
        if "densify" in events:
            history["densify"].append({"step": step, **events["densify"]})
            log.info("step %d: densify %s", step, events["densify"])
        if events.get("opacity_reset"):
            log.info("step %d: opacity reset", step)

        history["step"].append(step)
        history["loss"].append(round(float(loss.detach()), 6))
        history["psnr"].append(round(psnr(out.color, target), 3))
        history["n_gaussians"].append(head.gaussians.num)
        history["time_s"].append(round(time.perf_counter() - t0, 3))
        if step % cfg.log_every == 0:
            log.info("step %d/%d loss %.4f psnr %.2f dB gaussians %d (%.1f s)", step, cfg.iterations,
                     history["loss"][-1], history["psnr"][-1], head.gaussians.num, time.perf_counter() - t0)
        if cfg.checkpoint_every > 0 and step % cfg.checkpoint_every == 0 and step < cfg.iterations:
            history["train_time_s"] = time.perf_counter() - t0
            save_checkpoint(ckpt_path, step, head, optimizer, strategy, sampler, history, fp)

    history["train_time_s"] = time.perf_counter() - t0
    n_eval = min(cfg.eval_views, len(ds)) if cfg.eval_views > 0 else len(ds)
    views = sorted({int(round(v)) for v in np.linspace(0, len(ds) - 1, n_eval)})
    t_eval = time.perf_counter()
    metrics = evaluate(head, ds, views, cfg.backend, device)
    final = {"n_gaussians": head.gaussians.num, "train_time_s": round(history["train_time_s"], 2),
             "steps_per_s": round(cfg.iterations / max(history["train_time_s"], 1e-9), 3),
             "eval_time_s": round(time.perf_counter() - t_eval, 2), "device": str(device),
             "backend": cfg.backend, "active_sh_degree": head.gaussians.active_sh_degree,
             "psnr_head_train": round(metrics["psnr_head"], 3), "psnr_full_train": round(metrics["psnr_full"], 3),
             "psnr_head_no_mouth_train": round(metrics["psnr_head_no_mouth"], 3),
             "psnr_regions_train": metrics["regions"], "region_error_share_train": metrics["region_share"],
             "eval_views": metrics["n_views"]}
    log.info("final: %s", final)
    head.cpu()
    head.save(head_out)
    head.export_ply(ply_out)
    result = {"config": dataclasses.asdict(cfg), "final": final, **history}
    write_json(log_out, result)
    ckpt_path.unlink(missing_ok=True)
    return result


def default_threads() -> int:
    return int(os.environ.get("GTALKER_THREADS", "0")) or (os.cpu_count() or 1)
