"""The critique figures of one trained talker model on validation frames (results/D/V/talker/probe.json).

Cost (critique 1): analytic FLOPs per frame and measured ms per frame of the deformation (tokens +
decode, batch 1, no autograd, median). Disentanglement (critique 2): per-token Jacobian norms for the
mouth Gaussians and the rest, and the offset change of both (and the rendered lip box's pixel change)
when eye/view or audio inputs are swapped with frames half the passage away. Attention (critique 3): entropy and token shares per region.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from gtalker.data import FrameDataset
from gtalker.metrics.attention_stats import attention_stats, audio_focus
from gtalker.talker.cost import model_flops
from gtalker.talker.model import Conditions, TalkingHead
from gtalker.talker.probe import mouth_gaussians, swap_response, swapped, token_jacobian_norms


@dataclass
class ProbeConfig:
    """Settings of the talker probe (config section `ablation`; `variants` is the workflow's)."""

    probe_frames: int = 8
    jacobian_probes: int = 4


def spread(indices: Sequence[int], n: int) -> list[int]:
    """Up to n indices spread evenly over `indices`."""
    if n <= 0 or n >= len(indices):
        return list(indices)
    return [indices[int(round(k))] for k in np.linspace(0, len(indices) - 1, n)]


def lip_box_change(model: TalkingHead, cond: Conditions, other: Conditions, K: torch.Tensor,
                   lips: torch.Tensor, size: int) -> float:
    """Mean absolute RGB change inside each frame's lip box [B,4] between the head rendered (no
    background, `size` px) under `cond` and under `other`; cameras stay those of `cond`."""
    diffs = []
    with torch.no_grad():
        a, _ = model.render_batch(cond, K, size, size, None)
        frames, _ = model.deformed(other)
        for b, attrs in enumerate(frames):
            img = model.render_attributes(attrs, K[b], cond.viewmat[b], size, size, None).color
            x0, y0, x1, y1 = (int(v) for v in lips[b])
            diffs.append(float((img - a[b])[y0:y1, x0:x1].abs().mean()) if x1 > x0 and y1 > y0 else 0.0)
    return float(np.mean(diffs))


def measure(model: TalkingHead, dataset_dir: str, features_path: str, indices: Sequence[int],
            size: int, probes: int = 4) -> dict[str, Any]:
    """The figures above for the frames `indices` (at least 2), as a JSON-ready dict."""
    if len(indices) < 2:
        raise ValueError("measure needs at least 2 frames (swaps pair frames)")
    data = FrameDataset(dataset_dir, list(indices), size, audio_features=features_path,
                        fields=("K", "viewmat", "lip_box", "blink", "audio"))
    items = [data[k] for k in range(len(indices))]
    cond = Conditions(torch.stack([torch.as_tensor(it["audio"]) for it in items]).float(),
                      torch.as_tensor([float(it["blink"]) for it in items]),
                      torch.stack([it["viewmat"] for it in items]))
    K = torch.stack([it["K"] for it in items])
    lips = torch.stack([it["lip_box"] for it in items])
    model.eval()
    raw, _ = model.canonical_inputs()
    mouth = mouth_gaussians(raw["means"], K, cond.viewmat, lips)
    masks = {"mouth": mouth, "rest": ~mouth}
    times = []
    with torch.no_grad():
        _, query = model.canonical_inputs()
        model.deform(query, cond.audio[:1], cond.blink[:1], cond.viewmat[:1])      # warm-up, bases
        for b in range(len(indices)):
            start = time.perf_counter()
            model.deform(query, cond.audio[b:b + 1], cond.blink[b:b + 1], cond.viewmat[b:b + 1])
            times.append((time.perf_counter() - start) * 1000)
        _, attn = model.deformed(cond)
    half = len(indices) // 2
    perm = [(b + half) % len(indices) for b in range(len(indices))]
    stats = attention_stats(attn.numpy(), model.cfg.tokens, {k: v.numpy() for k, v in masks.items()}) \
        if attn is not None else {}
    swaps = {group: swap_response(model, cond, perm, group, masks) for group in ("eye_view", "audio")}
    # the rendered lip box: swapped eye/view inputs (the camera itself kept) vs swapped audio
    pixels = {group: lip_box_change(model, cond, swapped(cond, perm, group), K, lips, size)
              for group in ("eye_view", "audio")}
    return {
        "frames": [int(i) for i in indices],
        "n_gaussians": model.n_gaussians, "n_mouth_gaussians": int(mouth.sum()),
        "mode": model.cfg.mode, "rank": model.cfg.rank if model.cfg.mode == "lowrank" else None,
        "flops_per_frame": model_flops(model)["frame"], "flops_setup": model_flops(model)["setup"],
        "deform_ms_per_frame": statistics.median(times),
        "jacobian": token_jacobian_norms(model, cond, masks, probes=probes),
        "jacobian_probes": probes,
        "swap": swaps,
        # mouth change from eye/view swaps over that from audio swaps (0: the mouth follows audio only)
        "swap_ratio_mouth": swaps["eye_view"]["mouth"] / max(swaps["audio"]["mouth"], 1e-12),
        "swap_lip_box": pixels,      # mean |RGB change| in the lip box (0..1), per swapped group
        "swap_ratio_lip_box": pixels["eye_view"] / max(pixels["audio"], 1e-12),
        "attention": stats,
        "audio_focus": audio_focus(stats) if stats else None,
    }
