"""Statistics of attention maps over condition tokens (method.md section 6, critique 3: the null token).

Maps are per-Gaussian weights over the tokens, [B,N,T] (rows sum to 1), as the deformation models
return them; regions are boolean masks over the Gaussians (e.g. gtalker.talker.probe.mouth_gaussians).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def entropy(weights: np.ndarray) -> np.ndarray:
    """Shannon entropy in bits of each distribution over the last axis (0 log 0 = 0)."""
    w = np.asarray(weights, dtype=np.float64)
    logs = np.log2(np.where(w > 0, w, 1.0))
    return -(w * logs).sum(-1)


def attention_stats(attn: np.ndarray, tokens: Sequence[str], masks: dict[str, np.ndarray]
                    ) -> dict[str, dict[str, float]]:
    """Per region: mean entropy (bits) and entropy relative to the uniform maximum (log2 T), and each
    token's mean share of attention ('share_<token>'); regions with no Gaussian are left out."""
    attn = np.asarray(attn, dtype=np.float64)
    if attn.ndim != 3 or attn.shape[-1] != len(tokens):
        raise ValueError(f"attention must be [B,N,T] with T = {len(tokens)} tokens, got {attn.shape}")
    h = entropy(attn)                                                  # [B,N]
    out: dict[str, dict[str, float]] = {}
    for name, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            continue
        row = {"entropy_bits": float(h[:, mask].mean()),
               "entropy_rel": float(h[:, mask].mean() / math.log2(len(tokens))) if len(tokens) > 1 else 0.0}
        share = attn[:, mask].mean(axis=(0, 1))
        row.update({f"share_{t}": float(s) for t, s in zip(tokens, share)})
        out[name] = row
    return out


def audio_focus(stats: dict[str, dict[str, float]], region: str = "mouth", other: str = "rest") -> float:
    """Audio share in `region` over the audio share in `other` (> 1: audio attended more there); NaN
    without an audio token or region."""
    try:
        return stats[region]["share_audio"] / max(stats[other]["share_audio"], 1e-12)
    except KeyError:
        return float("nan")
