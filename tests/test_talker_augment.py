"""Training-time audio augmentation (gtalker.talker.augment): off is the identity, each part does what it
says, the draws come only from the given generator, and training with it resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gtalker.talker.augment import AudioAugment, augment_audio, stretch_axis


def windows(b: int = 3, c: int = 10) -> torch.Tensor:
    return torch.rand(b, 8, 16, c, generator=torch.Generator().manual_seed(1))


def test_off_returns_the_input_and_draws_nothing() -> None:
    x, gen = windows(), torch.Generator().manual_seed(5)
    state = gen.get_state()
    assert augment_audio(x, AudioAugment(), gen) is x
    assert torch.equal(gen.get_state(), state)


def test_a_unit_stretch_is_the_identity() -> None:
    x = windows()
    assert torch.equal(stretch_axis(x, torch.ones(3), dim=3, centre=0.0), x)
    assert torch.equal(stretch_axis(x, torch.ones(3), dim=2, centre=7.5), x)


def test_warp_moves_a_band_peak_by_the_factor() -> None:
    x = torch.zeros(2, 1, 16, 40)
    x[..., 20] = 1.0                                    # energy in band 20
    y = stretch_axis(x, torch.tensor([1.25, 0.8]), dim=3, centre=0.0)
    # output band i reads input band i * a: the peak moves to 20 / a
    assert int(y[0, 0, 0].argmax()) == 16 and int(y[1, 0, 0].argmax()) == 25


def test_tempo_keeps_the_window_centre_and_stretches_around_it() -> None:
    steps = torch.arange(16.0).reshape(1, 1, 16, 1).expand(2, 1, 16, 1)
    y = stretch_axis(steps, torch.tensor([0.5, 1.2]), dim=2, centre=7.5)[:, 0, :, 0]
    assert torch.allclose(y[:, 7] + y[:, 8], torch.full((2,), 15.0))          # centre unchanged
    assert torch.allclose(y[0, 9] - y[0, 8], torch.tensor(0.5))               # slowed down 2x
    assert float(y[1].min()) == 0.0 and float(y[1].max()) == 15.0             # clamped at the ends


def test_one_draw_per_frame_shared_by_its_windows_and_reproducible() -> None:
    x = windows(4).clone()
    x[:, :] = x[:, :1]                                   # the 8 windows of each frame equal
    cfg = AudioAugment(warp=0.2, tempo=0.2, tilt=0.5, gain=0.1)
    a = augment_audio(x, cfg, torch.Generator().manual_seed(3))
    b = augment_audio(x, cfg, torch.Generator().manual_seed(3))
    c = augment_audio(x, cfg, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose(a[:, 1:], a[:, :1].expand_as(a[:, 1:]))  # same draw for every window of a frame
    assert not torch.allclose(a[0], a[1] - x[1] + x[0])             # different draws for different frames


def test_gain_tilt_and_noise_have_the_stated_size() -> None:
    x = torch.zeros(500, 1, 16, 11)
    gen = torch.Generator().manual_seed(0)
    g = augment_audio(x, AudioAugment(gain=0.1), gen)
    assert float(g.abs().max()) <= 0.1 and float(g.std(dim=(1, 2, 3)).max()) < 1e-6
    t = augment_audio(x, AudioAugment(tilt=0.4), gen)
    assert float(t.abs().max()) <= 0.2 + 1e-6 and torch.allclose(t[..., 5], torch.zeros(500, 1, 16))
    n = augment_audio(x, AudioAugment(noise=0.05), gen)
    assert abs(float(n.std()) - 0.05) < 0.002


@pytest.mark.parametrize("kw", [{"warp": -0.1}, {"tempo": 1.0}, {"noise": -1.0}])
def test_bad_settings_are_refused(kw: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kw))):
        AudioAugment(**kw)


def test_training_with_augmentation_changes_the_model_and_resumes_exactly(tmp_path: Path) -> None:
    from talker_synth import train_args, write_talking_dataset

    from gtalker.talker.deform import DeformConfig
    from gtalker.talker.model import load
    from gtalker.talker.train import TrainConfig, train

    data = tmp_path / "data"
    write_talking_dataset(data, n_frames=16, n_val=4, size=32, n_gaussians=200)
    deform = DeformConfig.from_dict({"mode": "attention", "query": "posenc", "posenc_freqs": 2, "d_model": 16, "ffn_dim": 32,
                                     "head_hidden": 16})
    base = dict(size=32, iterations=6, batch_size=2, workers=0, checkpoint_every=2, log_every=2)
    aug = dict(augment_warp=0.2, augment_tempo=0.2, augment_noise=0.05)
    cpu = torch.device("cpu")
    train(**train_args(data, tmp_path / "plain"), deform_cfg=deform, cfg=TrainConfig(**base), device=cpu)
    train(**train_args(data, tmp_path / "full"), deform_cfg=deform, cfg=TrainConfig(**base, **aug), device=cpu)
    part = tmp_path / "part"
    train(**train_args(data, part), deform_cfg=deform, cfg=TrainConfig(**base, **aug), device=cpu, stop_after=3)
    train(**train_args(data, part), deform_cfg=deform, cfg=TrainConfig(**base, **aug), device=cpu)
    plain, full, resumed = (load(tmp_path / n / "model.pt").deform.state_dict() for n in ("plain", "full", "part"))
    assert any(not torch.allclose(plain[k], full[k]) for k in plain)
    for k in full:
        assert torch.allclose(full[k], resumed[k], atol=1e-6), k
