"""Condition tokens, spatial-audio attention and the deformation model on small random inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gtalker.common import InputError
from gtalker.talker.attention import SpatialAudioAttention
from gtalker.talker.deform import DeformConfig, DeformationModel, feature_dim, positional_encoding
from gtalker.talker.tokens import AudioEncoder, ConditionTokens, EyeEncoder, ViewEncoder

SHAPES = {"means": (3,), "log_scales": (3,), "quats": (4,), "opacity_logits": (), "sh": (16, 3)}


def conditions(batch: int = 3, channels: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    audio = torch.rand(batch, 8, 16, channels, generator=g)
    blink = torch.rand(batch, generator=g)
    viewmat = torch.eye(4).repeat(batch, 1, 1)
    viewmat[:, :3, 3] = torch.rand(batch, 3, generator=g)
    return audio, blink, viewmat


def test_encoders_give_one_token_per_frame() -> None:
    audio, blink, viewmat = conditions()
    assert AudioEncoder(5, 32)(audio).shape == (3, 32)
    assert EyeEncoder(32)(blink).shape == (3, 32)
    assert ViewEncoder(32)(viewmat).shape == (3, 32)
    with pytest.raises(ValueError, match="channels"):
        AudioEncoder(4, 32)(audio)


def test_audio_token_depends_on_the_audio() -> None:
    torch.manual_seed(0)
    enc = AudioEncoder(5, 16)
    audio, _, _ = conditions()
    a = enc(audio)
    b = enc(audio * 0)
    assert not torch.allclose(a, b)


def test_view_standardisation_uses_training_cameras() -> None:
    enc = ViewEncoder(8)
    _, _, viewmat = conditions(batch=6)
    enc.fit_stats(viewmat)
    vec = (ViewEncoder.pose_vector(viewmat) - enc.mean) / enc.std
    assert torch.allclose(vec[:, 9:].mean(0), torch.zeros(3), atol=1e-5)


def test_condition_tokens_follow_the_configured_names() -> None:
    audio, blink, viewmat = conditions()
    tokens = ConditionTokens(("eye", "null"), 16, 5)
    out = tokens(audio, blink, viewmat)
    assert out.shape == (3, 2, 16)
    assert tokens.audio is None and tokens.view is None
    assert torch.allclose(out[0, 1], out[2, 1])  # the null token is the same for every frame
    with pytest.raises(ValueError):
        ConditionTokens(("audio", "pitch"), 16, 5)


def test_attention_weights_are_distributions_over_tokens() -> None:
    torch.manual_seed(0)
    att = SpatialAudioAttention(d_model=16, n_heads=2, ffn_dim=32, layers=2, dropout=0.0)
    queries = torch.randn(50, 16)
    tokens = torch.randn(4, 3, 16)
    out, weights = att(queries, tokens)
    assert out.shape == (4, 50, 16)
    assert weights.shape == (4, 50, 3)
    assert torch.allclose(weights.sum(-1), torch.ones(4, 50), atol=1e-5)
    # frames with different tokens get different outputs for the same Gaussian
    assert not torch.allclose(out[0], out[1])


def test_attention_shared_queries_equal_batched_queries() -> None:
    torch.manual_seed(0)
    att = SpatialAudioAttention(16, 2, 32, 1, 0.0).eval()
    queries = torch.randn(20, 16)
    tokens = torch.randn(2, 4, 16)
    shared, w1 = att(queries, tokens)
    batched, w2 = att.layers[0](queries.expand(2, -1, -1), tokens)
    assert torch.allclose(shared, batched, atol=1e-5)


def make_deform(**overrides) -> DeformationModel:
    cfg = DeformConfig.from_dict({"mode": "attention", "dropout": 0.0, "query": "posenc", "posenc_freqs": 2, **overrides})
    cfg.audio_channels = 5
    cfg.feature_dim = feature_dim(cfg.query, 8, cfg.posenc_freqs)
    return DeformationModel(cfg, SHAPES, center=torch.zeros(3), extent=2.0)


def test_deformation_starts_at_zero_offsets_and_learns() -> None:
    torch.manual_seed(0)
    model = make_deform()
    means = torch.randn(30, 3)
    feats = model.query_features(None, means)
    audio, blink, viewmat = conditions()
    offsets, attn = model(feats, audio, blink, viewmat)
    assert set(offsets) == set(SHAPES)
    assert offsets["sh"].shape == (3, 30, 16, 3) and offsets["opacity_logits"].shape == (3, 30)
    assert all(float(v.detach().abs().max()) == 0.0 for v in offsets.values())
    assert attn.shape == (3, 30, 4)
    # one optimisation step moves the offsets away from zero
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    target = torch.ones(3, 30, 3)
    for _ in range(3):
        offsets, _ = model(feats, audio, blink, viewmat)
        loss = (offsets["means"] - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    offsets, _ = model(feats, audio, blink, viewmat)
    assert float(offsets["means"].detach().abs().max()) > 0


def test_only_configured_attributes_deform() -> None:
    model = make_deform(attributes=["xyz", "opacity"])
    feats = model.query_features(None, torch.randn(7, 3))
    offsets, _ = model(feats, *conditions())
    assert set(offsets) == {"means", "opacity_logits"}


def test_position_offsets_are_in_units_of_the_head_extent() -> None:
    model = make_deform(attributes=["xyz"])
    head = model.deformer.heads.heads["means"].net[2]
    torch.nn.init.constant_(head.bias, 0.5)
    offsets, _ = model(model.query_features(None, torch.randn(4, 3)), *conditions())
    assert torch.allclose(offsets["means"], torch.full_like(offsets["means"], 1.0))  # 0.5 * extent 2


def test_config_errors_name_the_key() -> None:
    with pytest.raises(InputError, match="talker.mode"):
        DeformConfig.from_dict({"mode": "lowrank-typo"})
    with pytest.raises(InputError, match="talker.tokens"):
        DeformConfig.from_dict({"mode": "attention", "tokens": ["audio", "pitch"]})
    with pytest.raises(InputError, match="talker.d_model"):
        DeformConfig.from_dict({"mode": "attention", "d_model": 63, "heads": 2})
    with pytest.raises(InputError, match="tri-plane"):
        make_deform(query="triplane").query_features(None, torch.zeros(2, 3))


def test_positional_encoding_width() -> None:
    x = torch.rand(5, 3)
    assert positional_encoding(x, 4).shape == (5, 3 + 24)
    assert feature_dim("both", 64, 4) == 64 + 27


def test_training_filter_keeps_the_training_footprint() -> None:
    from gtalker.talker.model import training_filter

    means = torch.tensor([[0.0, 0.0, 0.0], [0.01, -0.02, 0.05]])
    scales = torch.tensor([[0.002, 0.004, 0.001], [0.003, 0.003, 0.003]])
    viewmat = torch.eye(4)
    viewmat[2, 3] = 0.5
    K = torch.tensor([[800.0, 0, 256], [0, 800.0, 256], [0, 0, 1]])
    assert torch.allclose(training_filter(means, scales, K, viewmat, 1.0), scales)
    ratio = 0.25  # trained at 128, rendered at 512
    wide = training_filter(means, scales, K, viewmat, ratio)
    z = means[:, 2] + 0.5
    # screen variance along x at the render resolution, 0.3 px^2 dilation included
    render_var = (800 * wide[:, 0] / z) ** 2 + 0.3
    train_var = ((800 * ratio * scales[:, 0] / z) ** 2 + 0.3) / ratio ** 2  # in render pixels
    assert torch.allclose(render_var, train_var, rtol=1e-4)


def test_condition_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    audio, blink, viewmat = conditions(batch=5)
    tokens = ConditionTokens(("audio", "eye", "view"), 16, 5, dropout={"view": 1.0, "eye": 1.0})
    tokens.view.fit_stats(viewmat)
    tokens.train()
    out = tokens(audio, blink, viewmat)
    # every frame saw the mean pose and open eyes: identical view and eye tokens across frames
    assert torch.allclose(out[:, 2], out[0:1, 2].expand(5, -1), atol=1e-6)
    assert torch.allclose(out[:, 1], tokens.eye(torch.zeros(1)).expand(5, -1), atol=1e-6)
    assert not torch.allclose(out[:, 0], out[0:1, 0].expand(5, -1))  # audio is never dropped
    tokens.eval()
    out = tokens(audio, blink, viewmat)
    assert not torch.allclose(out[:, 2], out[0:1, 2].expand(5, -1))
