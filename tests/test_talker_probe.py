"""Disentanglement probes (critique 2) and attention statistics (critique 3) with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gtalker.canonical.model import CanonicalHead
from gtalker.metrics.attention_stats import attention_stats, audio_focus, entropy
from gtalker.splat.gaussians import GaussianModel
from gtalker.talker.deform import DeformConfig
from gtalker.talker.model import Conditions, TalkingHead
from gtalker.talker.probe import (_flat_offsets, condition_tokens, mouth_gaussians, swap_response,
                                  token_jacobian_norms)


def head(mode: str = "attention", n: int = 12) -> TalkingHead:
    torch.manual_seed(0)
    g = GaussianModel(n, max_sh_degree=0)
    with torch.no_grad():
        g.means.copy_(torch.randn(n, 3) * 0.1)
    cfg = DeformConfig.from_dict({"mode": mode, "rank": 3, "query": "posenc", "posenc_freqs": 1,
                                  "d_model": 8, "heads": 2, "ffn_dim": 16, "head_hidden": 8,
                                  "tokens": ["audio", "eye", "view", "null"]})
    cfg.audio_channels = 3
    model = TalkingHead(CanonicalHead(g, None), cfg)
    for p in model.deform.parameters():      # trained-looking (the offset heads start at zero)
        torch.nn.init.normal_(p, std=0.3)
    return model.eval()


def conditions(batch: int = 4) -> Conditions:
    gen = torch.Generator().manual_seed(3)
    viewmat = torch.eye(4).repeat(batch, 1, 1)
    viewmat[:, :3, 3] = torch.rand(batch, 3, generator=gen)
    return Conditions(torch.rand(batch, 8, 16, 3, generator=gen), torch.rand(batch, generator=gen), viewmat)


def masks(n: int = 12) -> dict[str, torch.Tensor]:
    mouth = torch.zeros(n, dtype=torch.bool)
    mouth[:4] = True
    return {"mouth": mouth, "rest": ~mouth}


class IgnoresEye(torch.nn.Module):
    """Wraps a deformer so that its output does not depend on the eye token (index 1)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.tokens = inner.tokens

    def decode(self, features: torch.Tensor, tokens: torch.Tensor):  # noqa: ANN201
        keep = torch.ones(tokens.shape[1], 1, dtype=tokens.dtype)
        keep[1] = 0
        return self.inner.decode(features, tokens * keep)


@pytest.mark.parametrize("mode", ["attention", "lowrank"])
def test_jacobian_norms_equal_the_full_jacobian(mode: str) -> None:
    model, cond = head(mode), conditions(2)
    m = masks()
    got = token_jacobian_norms(model, cond, m)
    _, query = model.canonical_inputs()
    tokens = condition_tokens(model, cond)
    jac = torch.autograd.functional.jacobian(lambda tok: _flat_offsets(model, query, tok), tokens)
    # jac [B,N,K,B,T,d]; frame b's offsets depend only on frame b's tokens
    for i, name in enumerate(model.cfg.tokens):
        for region, mask in m.items():
            sq = sum(float(jac[b][mask][..., b, i, :].square().sum()) for b in range(2))
            expected = math.sqrt(sq / (2 * int(mask.sum())))
            assert got[name][region] == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert got["audio"]["mouth"] > 0 and got["eye"]["rest"] > 0

def test_a_deformation_that_ignores_the_eye_token_has_zero_eye_jacobian() -> None:
    model = head("attention")
    model.deform.deformer = IgnoresEye(model.deform.deformer)
    got = token_jacobian_norms(model, conditions(3), masks())
    assert got["eye"] == {"mouth": 0.0, "rest": 0.0}
    assert got["audio"]["mouth"] > 0 and got["view"]["rest"] > 0


def test_random_probes_estimate_the_exact_norm() -> None:
    model, cond = head("attention"), conditions(2)
    exact = token_jacobian_norms(model, cond, masks())
    estimate = token_jacobian_norms(model, cond, masks(), probes=120, seed=1)
    assert estimate["audio"]["mouth"] == pytest.approx(exact["audio"]["mouth"], rel=0.25)


def test_swapping_identical_inputs_changes_nothing() -> None:
    model, cond = head("lowrank"), conditions(4)
    m = masks()
    assert swap_response(model, cond, [0, 1, 2, 3], "audio", m) == {"mouth": 0.0, "rest": 0.0}
    same_pose = Conditions(cond.audio, cond.blink[:1].expand(4).clone(), cond.viewmat[:1].expand(4, 4, 4).clone())
    assert swap_response(model, same_pose, [1, 2, 3, 0], "eye_view", m) == {"mouth": 0.0, "rest": 0.0}
    assert swap_response(model, same_pose, [1, 2, 3, 0], "audio", m)["mouth"] > 0


def test_mouth_gaussians_are_those_projecting_into_the_lip_box() -> None:
    means = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.5, 1.0], [0.0, 0.0, -1.0]])
    K = torch.tensor([[100.0, 0, 50], [0, 100, 50], [0, 0, 1]])
    view = torch.eye(4).repeat(2, 1, 1)
    boxes = torch.tensor([[40, 40, 60, 60], [40, 40, 60, 60]])
    # centre in the box; second at pixel (100, 100) outside; third behind the camera
    assert mouth_gaussians(means, K, view, boxes).tolist() == [True, False, False]


def test_attention_statistics_on_a_constructed_map() -> None:
    tokens = ["audio", "eye", "view", "null"]
    attn = np.zeros((2, 5, 4))
    attn[:, :2] = [0.7, 0.1, 0.1, 0.1]          # mouth: audio-dominated
    attn[:, 2:] = 0.25                          # rest: uniform
    attn[1, 4] = [0.0, 0.0, 1.0, 0.0]          # one one-hot row
    mouth = np.array([True, True, False, False, False])
    stats = attention_stats(attn, tokens, {"mouth": mouth, "rest": ~mouth, "none": np.zeros(5, bool)})
    assert "none" not in stats
    h_mouth = -(0.7 * math.log2(0.7) + 3 * 0.1 * math.log2(0.1))
    assert stats["mouth"]["entropy_bits"] == pytest.approx(h_mouth)
    assert stats["rest"]["entropy_bits"] == pytest.approx(2.0 * 5 / 6)     # five uniform rows, one one-hot
    assert stats["rest"]["entropy_rel"] == pytest.approx(5 / 6)
    assert stats["mouth"]["share_audio"] == pytest.approx(0.7)
    assert stats["rest"]["share_audio"] == pytest.approx(0.25 * 5 / 6)
    assert audio_focus(stats) == pytest.approx(0.7 / (0.25 * 5 / 6))
    assert entropy(np.array([1.0, 0.0])) == 0.0
    with pytest.raises(ValueError, match="4 tokens"):
        attention_stats(attn[..., :3], tokens, {"mouth": mouth})


def test_the_disentangling_variant_has_zero_eye_and_view_jacobian_in_the_mouth() -> None:
    torch.manual_seed(0)
    g = GaussianModel(12, max_sh_degree=0)
    cfg = DeformConfig.from_dict({"mode": "attention", "query": "posenc", "posenc_freqs": 1, "d_model": 8, "heads": 2,
                                  "ffn_dim": 16, "head_hidden": 8, "mouth_tokens": ["audio", "null"]})
    cfg.audio_channels = 3
    model = TalkingHead(CanonicalHead(g, None), cfg)
    for p in model.deform.parameters():
        torch.nn.init.normal_(p, std=0.3)
    m = masks()
    model.deform.deformer.set_mouth(m["mouth"])
    got = token_jacobian_norms(model.eval(), conditions(2), m)
    assert got["eye"]["mouth"] == 0.0 and got["view"]["mouth"] == 0.0
    assert got["audio"]["mouth"] > 0 and got["eye"]["rest"] > 0 and got["view"]["rest"] > 0
    _, attn = model.deformed(conditions(2))
    assert float(attn[:, m["mouth"]][..., 1:3].max()) == 0.0      # mouth: no weight on eye, view


def test_mouth_tokens_must_be_tokens_of_the_attention_mode() -> None:
    from gtalker.common import InputError

    with pytest.raises(InputError, match="mouth_tokens"):
        DeformConfig.from_dict({"mode": "attention", "tokens": ["audio", "eye"], "mouth_tokens": ["null"]})
    with pytest.raises(InputError, match="mouth_tokens"):
        DeformConfig.from_dict({"mode": "lowrank", "mouth_tokens": ["audio"]})
