"""Analytic floating-point operations of one frame's deformation (method.md section 6, critique 1).

FLOPs = 2 x the multiply-accumulates of the matrix products of the deformer after its condition
tokens, for one frame (batch 1): the products that scale with the Gaussians and the small per-frame
ones over the tokens. Left out: the token encoders (the same in every mode, independent of the number
of Gaussians), biases, normalisations, activations and softmax (elementwise, a few per value).
For 'lowrank', the bases are a function of the canonical features only: computed once per model
(`setup`), not per frame. For 'attention', likewise the query projection and the first layer's q
(kept between frames at inference, gtalker.talker.attention.FrameCache).
"""

from __future__ import annotations

import math

from gtalker.talker.deform import DeformConfig


def attention_macs(cfg: DeformConfig, n: int, widths: list[int]) -> tuple[int, int]:
    """(per-frame, once-per-model setup) multiply-accumulates of AttentionDeformer.decode (`widths`:
    offsets per attribute)."""
    d, t, f = cfg.d_model, len(cfg.tokens), cfg.feature_dim
    setup = n * f * d + n * d * d                           # query projection, first layer's q
    per_layer = (2 * t * d * d                              # k, v (tokens)
                 + 2 * n * t * d                            # scores, weighted values (all heads)
                 + n * d * d                                # output projection
                 + 2 * n * d * cfg.ffn_dim)                 # feed-forward
    frame = cfg.layers * per_layer + (cfg.layers - 1) * n * d * d   # q of the layers after the first
    frame += sum(n * (d * cfg.head_hidden + cfg.head_hidden * w) for w in widths)
    return frame, setup


def lowrank_macs(cfg: DeformConfig, n: int, widths: list[int]) -> tuple[int, int]:
    """(per-frame, once-per-model setup) multiply-accumulates of LowRankDeformer.decode."""
    d, t, r, k = cfg.d_model, len(cfg.tokens), cfg.rank, sum(widths)
    frame = (2 * t * d * d                                  # keys, values of the tokens
             + 2 * r * t * d                                # code queries' scores, pooled values
             + r * d                                        # code
             + n * r * k                                    # mix of the bases
             + n * r * t)                                   # per-Gaussian attention map
    setup = n * cfg.feature_dim * d + n * (d * cfg.head_hidden + cfg.head_hidden * r * k)
    return frame, setup


def deform_flops(cfg: DeformConfig, n: int, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """{'frame': FLOPs per frame, 'setup': FLOPs once per model} for cfg.mode, `n` Gaussians and the
    deformed attributes' shapes (attribute key -> per-Gaussian shape); cfg.feature_dim must be set."""
    widths = [math.prod(s) for s in shapes.values()]
    if cfg.mode == "attention":
        frame, setup = attention_macs(cfg, n, widths)
        return {"frame": 2 * frame, "setup": 2 * setup}
    if cfg.mode == "lowrank":
        frame, setup = lowrank_macs(cfg, n, widths)
        return {"frame": 2 * frame, "setup": 2 * setup}
    raise ValueError(f"no FLOP count for mode '{cfg.mode}'")


def model_flops(model) -> dict[str, int]:  # noqa: ANN001 (TalkingHead; import cycle otherwise)
    """deform_flops of a TalkingHead (its config, Gaussian count and deformed attributes)."""
    shapes = dict(model.deform.deformer.heads.shapes) if model.cfg.mode == "attention" \
        else dict(model.deform.deformer.shapes)
    return deform_flops(model.cfg, model.n_gaussians, shapes)
