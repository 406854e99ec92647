"""The fast render path renders what the straightforward one does (TalkingHead.fast_render), the bicubic
matrices are F.interpolate's, and a kept query projection is never stale."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gtalker.canonical.model import CanonicalHead
from gtalker.splat.synthetic import head_poses, head_scene
from gtalker.talker.deform import DeformConfig
from gtalker.talker.model import Conditions, TalkingHead
from gtalker.talker.upsample import bicubic_matrix, composite_upsampled, upsample


@pytest.mark.parametrize("n_in,n_out", [(32, 64), (128, 512), (50, 129), (7, 7)])
def test_upsample_is_interpolate_bicubic_to_float_rounding(n_in: int, n_out: int) -> None:
    x = torch.rand(2, n_in, n_in + 3, 4, generator=torch.Generator().manual_seed(n_in))
    ref = F.interpolate(x.permute(0, 3, 1, 2), size=(n_out, n_out + 5), mode="bicubic", align_corners=False)
    got = upsample(x, n_out, n_out + 5)
    assert got.shape == (2, n_out, n_out + 5, 4)
    assert (got - ref.permute(0, 2, 3, 1)).abs().max() <= 3e-5  # interpolate: float32 weights
    assert torch.allclose(bicubic_matrix(n_in, n_out).sum(1), torch.ones(n_out), atol=1e-6)  # partition of unity


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("n_in,n_out", [(8, 16), (64, 256), (37, 100)])
def test_composite_takes_every_background_shape(compiled: bool, n_in: int, n_out: int) -> None:
    """Both the compiled kernel (4 taps per axis) and the matrix products equal upsample + clamp + over."""
    g = torch.Generator().manual_seed(0)
    color, alpha = torch.rand(2, n_in, n_in, 3, generator=g), torch.rand(2, n_in, n_in, 1, generator=g)
    bg = torch.rand(2, n_out, n_out, 3, generator=g)
    up = upsample(torch.cat([color, alpha], -1), n_out, n_out).clamp(0, 1)

    def composite(background):  # noqa: ANN001, ANN202
        return composite_upsampled(color, alpha, n_out, background, compiled=compiled)

    assert torch.allclose(composite(bg), up[..., :3] + (1 - up[..., 3:]) * bg, atol=2e-6)
    assert torch.allclose(composite(bg[0])[1], up[1, ..., :3] + (1 - up[1, ..., 3:]) * bg[0], atol=2e-6)
    grey = torch.tensor([0.2, 0.5, 0.7])
    assert torch.allclose(composite(grey), up[..., :3] + (1 - up[..., 3:]) * grey, atol=2e-6)
    assert torch.allclose(composite(None), up[..., :3], atol=2e-6)


def small_model(mode: str = "attention") -> TalkingHead:
    torch.manual_seed(0)
    pts = head_scene(400, seed=0)
    head = CanonicalHead.from_points(pts["means"], pts["colors"], triplane=True, channels=4, resolutions=(8,))
    head.gaussians.active_sh_degree = 1
    cfg = DeformConfig.from_dict({"mode": mode, "d_model": 16, "ffn_dim": 32, "head_hidden": 16, "rank": 2})
    cfg.audio_channels = 5
    model = TalkingHead(head, cfg, train_size=32)
    for p in model.deform.parameters():  # untrained offset heads start at zero: give them something to do
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def batch(n: int, size: int) -> tuple[Conditions, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    R, t = head_poses(n, seed=0)
    V = torch.eye(4).repeat(n, 1, 1)
    V[:, :3, :3], V[:, :3, 3] = torch.from_numpy(R), torch.from_numpy(t)
    f = 1.6 * size
    K = torch.tensor([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]]).repeat(n, 1, 1)
    cond = Conditions(torch.randn(n, 8, 16, 5, generator=g), torch.rand(n, generator=g), V)
    return cond, K, torch.rand(n, size, size, 3, generator=g)


@pytest.mark.parametrize("mode", ["attention", "lowrank"])
def test_fast_render_renders_the_same_images(mode: str) -> None:
    model = small_model(mode)
    cond, K, bg = batch(3, 64)
    with torch.no_grad():
        model.fast_render = False
        slow = torch.cat([model.render_batch(Conditions(cond.audio[b:b + 1], cond.blink[b:b + 1], cond.viewmat[b:b + 1]),
                                             K[b:b + 1], 64, 64, bg[b:b + 1], "numba", filter_size=32, inner_size=32)[0]
                          for b in range(3)])
        model.fast_render = True
        fast = model.render_batch(cond, K, 64, 64, bg, "numba", filter_size=32, inner_size=32)[0]
        again = model.render_batch(cond, K, 64, 64, bg, "numba", filter_size=32, inner_size=32)[0]
        single = model.render_upsampled(model.deformed(Conditions(cond.audio[:1], cond.blink[:1], cond.viewmat[:1]))[0][0],
                                        K[0], cond.viewmat[0], 64, bg[0], 32, "numba", 32)
    assert (slow - bg).abs().max() > 0.05                    # the head is there
    assert (fast - slow).abs().max() <= 1e-5
    assert torch.equal(fast, again)                          # kept projections give the same frames
    assert (single - slow[0]).abs().max() <= 1e-5


def test_kept_queries_follow_the_weights_and_stay_out_of_training() -> None:
    model = small_model()
    deformer = model.deform.deformer
    raw, query = model.canonical_inputs()
    cond, _, _ = batch(2, 32)
    calls = []
    deformer.query_proj.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        first = model.deformed(cond)[0][0]["means"]
        model.deformed(cond)
        assert len(calls) == 1                               # computed once, then kept
        deformer.query_proj[0].weight.mul_(1.5)              # an in-place change of the weights
        changed = model.deformed(cond)[0][0]["means"]
        assert len(calls) == 2 and not torch.equal(first, changed)
        model.fast_render = False
        model.deformed(cond)
        model.deformed(cond)
        assert len(calls) == 4                               # off: computed every time
    model.fast_render = True
    model.train()
    model.deformed(cond)
    model.deformed(cond)
    assert len(calls) == 6                                   # training: never kept
