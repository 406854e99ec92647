"""The low-rank deformation mode (critique 1) and the analytic FLOP count of both modes."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from gtalker.talker.cost import attention_macs, deform_flops, lowrank_macs
from gtalker.talker.deform import DeformConfig, DeformationModel, LowRankDeformer, feature_dim

SHAPES = {"means": (3,), "opacity_logits": ()}


def conditions(batch: int, channels: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    viewmat = torch.eye(4).repeat(batch, 1, 1)
    viewmat[:, :3, 3] = torch.rand(batch, 3, generator=g)
    return torch.rand(batch, 8, 16, channels, generator=g), torch.rand(batch, generator=g), viewmat


def make(**overrides) -> DeformationModel:
    cfg = DeformConfig.from_dict({"mode": "attention", "query": "posenc", "posenc_freqs": 1, "attributes": ["xyz", "opacity"],
                                  **overrides})
    cfg.audio_channels = 5
    cfg.feature_dim = feature_dim(cfg.query, 0, cfg.posenc_freqs)
    return DeformationModel(cfg, {**SHAPES, "log_scales": (3,)}, center=torch.zeros(3), extent=1.0)


def test_lowrank_offsets_lie_in_each_gaussians_span_of_rank_vectors() -> None:
    torch.manual_seed(0)
    model = make(mode="lowrank", rank=2)
    deformer = model.deformer
    assert isinstance(deformer, LowRankDeformer)
    torch.nn.init.normal_(deformer.basis_net.net[2].weight)   # a trained-looking basis
    feats = model.query_features(None, torch.randn(6, 3))
    assert model(feats, *conditions(5))[1] is None  # training: no attention map (its shares need the basis)
    model.eval()
    offsets, attn = model(feats, *conditions(5))   # with autograd: the basis, mixed per frame
    with torch.no_grad():                           # rendering: the same basis, kept between calls
        kept, kept_attn = model(feats, *conditions(5))
        # training's path: the code mixes the basis network's last layer, never forming the basis
        code = deformer.code(deformer.tokens(*conditions(5)))[0]
        mixed = deformer.mixed(feats, code)
    for name in offsets:
        assert torch.allclose(offsets[name], kept[name], atol=1e-5), name
    assert torch.allclose(mixed, torch.cat([kept[k].reshape(5, 6, -1) for k in deformer.shapes], -1), atol=1e-5)
    assert torch.allclose(attn, kept_attn)
    assert offsets["means"].shape == (5, 6, 3) and offsets["opacity_logits"].shape == (5, 6)
    assert attn.shape == (5, 6, 4) and torch.allclose(attn.sum(-1), torch.ones(5, 6))
    flat = torch.cat([offsets["means"], offsets["opacity_logits"][..., None]], -1)   # [B,N,4]
    for n in range(6):  # 5 frames of one Gaussian span at most rank 2
        assert torch.linalg.matrix_rank(flat[:, n].detach(), atol=1e-5) <= 2


def test_lowrank_starts_at_zero_learns_and_caches_the_basis_only_in_inference() -> None:
    torch.manual_seed(0)
    model = make(mode="lowrank", rank=3)
    feats = model.query_features(None, torch.randn(10, 3))
    cond = conditions(4)
    offsets, _ = model(feats, *cond)
    assert all(float(v.detach().abs().max()) == 0.0 for v in offsets.values())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        offsets, _ = model(feats, *cond)
        loss = (offsets["means"] - 1).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(offsets["means"].detach().abs().max()) > 0
    assert model.deformer._basis is None            # never cached while training
    model.eval()
    with torch.no_grad():
        first, _ = model(feats, *cond)
        assert model.deformer._basis is not None
        again, _ = model(feats, *cond)
    assert torch.equal(first["means"], again["means"])
    model.train()
    assert model.deformer._basis is None


def test_attention_flops_match_a_hand_count_and_torch_counter() -> None:
    cfg = make(mode="attention", d_model=4, heads=2, ffn_dim=8, head_hidden=5, tokens=["audio", "null"]).cfg
    assert cfg.feature_dim == 3 + 6
    # N=3, F=9, d=4, T=2, ffn=8, hidden 5, widths 3 and 1 by hand:
    # per frame: (2*2*16 + 2*3*2*4 + 3*16 + 2*3*4*8) + 3*(4*5+5*3) + 3*(4*5+5*1);
    # setup (kept between frames): query projection 3*9*4 and the first layer's q 3*16
    hand = (64 + 48 + 48 + 192) + 105 + 75
    assert attention_macs(cfg, 3, [3, 1]) == (hand, 108 + 48)
    assert deform_flops(cfg, 3, SHAPES) == {"frame": 2 * hand, "setup": 2 * (108 + 48)}


def test_lowrank_flops_match_a_hand_count() -> None:
    cfg = make(mode="lowrank", rank=2, d_model=4, head_hidden=5, tokens=["audio", "eye", "null"]).cfg
    # N=3, T=3, d=4, r=2, K=4: keys/values 2*3*16, scores+pooled 2*2*3*4, code 2*4, mix 3*2*4, map 3*2*3
    assert lowrank_macs(cfg, 3, [3, 1]) == (96 + 48 + 8 + 24 + 18, 3 * 9 * 4 + 3 * (4 * 5 + 5 * 8))


def test_flops_agree_with_torch_flop_counter() -> None:
    """The analytic counts equal what torch counts for the deformers' matrix products (batch 1)."""
    for mode, extra in (("attention", {"layers": 2}), ("lowrank", {"rank": 3})):
        model = make(mode=mode, d_model=8, heads=2, ffn_dim=16, head_hidden=6, **extra)
        model.eval()
        n = 11
        feats = model.query_features(None, torch.randn(n, 3))
        tokens = model.deformer.tokens(*conditions(1))
        with torch.no_grad():
            with FlopCounterMode(display=False) as first:
                model.deformer.decode(feats, tokens)           # computes and keeps the setup part
            with FlopCounterMode(display=False) as counter:
                model.deformer.decode(feats, tokens)
        expected = deform_flops(model.cfg, n, {"means": (3,), "opacity_logits": ()})
        assert counter.get_total_flops() == expected["frame"], mode
        assert first.get_total_flops() == expected["frame"] + expected["setup"], mode


def test_lowrank_is_far_cheaper_at_the_default_size() -> None:
    att = make(mode="attention").cfg
    low = make(mode="lowrank", rank=8).cfg
    att.feature_dim = low.feature_dim = 32
    shapes = {"means": (3,), "log_scales": (3,), "quats": (4,), "opacity_logits": (), "sh": (16, 3)}
    ratio = deform_flops(att, 18000, shapes)["frame"] / deform_flops(low, 18000, shapes)["frame"]
    assert ratio > 10


def test_lowrank_talking_head_saves_and_loads(tmp_path) -> None:  # noqa: ANN001
    from gtalker.canonical.model import CanonicalHead
    from gtalker.splat.gaussians import GaussianModel
    from gtalker.talker.cost import model_flops
    from gtalker.talker.model import Conditions, TalkingHead, load, save

    torch.manual_seed(0)
    g = GaussianModel(9, max_sh_degree=0)
    with torch.no_grad():
        g.means.copy_(torch.randn(9, 3) * 0.1)
    cfg = DeformConfig.from_dict({"mode": "lowrank", "rank": 2, "query": "posenc", "posenc_freqs": 1})
    cfg.audio_channels = 5
    model = TalkingHead(CanonicalHead(g, None), cfg)
    torch.nn.init.normal_(model.deform.deformer.basis_net.net[2].weight)
    cond = Conditions(*conditions(2))
    model.eval()
    with torch.no_grad():
        before, attn = model.deformed(cond)
    save(model, tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt").eval()
    with torch.no_grad():
        after, attn2 = loaded.deformed(cond)
    assert loaded.cfg.mode == "lowrank" and loaded.cfg.rank == 2
    assert torch.allclose(before[1]["means"], after[1]["means"]) and torch.allclose(attn, attn2)
    flops = model_flops(loaded)
    assert flops["frame"] > 0 and flops["setup"] > 0


def test_a_model_saved_before_newer_buffers_still_loads(tmp_path) -> None:  # noqa: ANN001
    """Models written by earlier versions (no 'deformer.mouth' in deform_state) stay loadable."""
    from gtalker.canonical.model import CanonicalHead
    from gtalker.splat.gaussians import GaussianModel
    from gtalker.talker.model import TalkingHead, load, save

    cfg = DeformConfig.from_dict({"mode": "attention", "query": "posenc", "posenc_freqs": 1, "d_model": 8, "heads": 2})
    cfg.audio_channels = 5
    model = TalkingHead(CanonicalHead(GaussianModel(5, max_sh_degree=0), None), cfg)
    save(model, tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=False)
    payload["deform_state"].pop("deformer.mouth")
    torch.save(payload, tmp_path / "old.pt")
    assert load(tmp_path / "old.pt").n_gaussians == 5
