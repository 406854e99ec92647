"""Canonical training on a tiny synthetic dataset: it learns, writes the contract files, and resumes."""

from __future__ import annotations

import json
import math

import pytest
import torch

import gtalker.canonical.train as train_mod
from gtalker.canonical.__main__ import main
from gtalker.canonical.model import CanonicalHead
from gtalker.canonical.train import CanonicalConfig, train
from gtalker.splat import ply
from gtalker.splat.synthetic import write_dataset

STEPS = 60


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("canon")
    write_dataset(root, n_frames=8, size=48, n_gaussians=1500, n_points=600, init="mesh")
    return root


def small_config(**kw) -> CanonicalConfig:
    base = dict(iterations=STEPS, resolution=32, densify_start=20, densify_stop=50, densify_every=20,
                sh_increase_every=20, checkpoint_every=20, log_every=10, eval_views=4, backend="torch")
    base.update(kw)
    return CanonicalConfig(**base)


def run(root, out, cfg):
    return train(str(root), str(root / "fit/points_mesh.ply"), str(out / "head.pt"), str(out / "gaussians.ply"),
                 str(out / "train_log.json"), cfg, torch.device("cpu"))


@pytest.mark.parametrize("triplane", [True, False])
def test_training_learns_and_writes_outputs(dataset, tmp_path, triplane):
    run(dataset, tmp_path, small_config(triplane=triplane))
    for name in ("head.pt", "gaussians.ply", "train_log.json"):
        assert (tmp_path / name).exists()
    assert not (tmp_path / "checkpoint.pt").exists()
    log = json.loads((tmp_path / "train_log.json").read_text())
    assert len(log["loss"]) == STEPS and len(log["n_gaussians"]) == STEPS
    first, last = sum(log["loss"][:10]) / 10, sum(log["loss"][-10:]) / 10
    assert last < 0.9 * first, (first, last)
    assert math.isfinite(log["final"]["psnr_head_train"])
    regions = log["final"]["psnr_regions_train"]
    assert set(regions) == {"border", "mouth", "face_rest", "head", "head_no_mouth"}
    assert math.isfinite(log["final"]["psnr_head_no_mouth_train"])
    shares = log["final"]["region_error_share_train"]
    assert math.isclose(shares["border"] + shares["mouth"] + shares["face_rest"], 1.0, abs_tol=1e-3)
    assert log["final"]["active_sh_degree"] == 3
    head = CanonicalHead.load(tmp_path / "head.pt")
    assert head.gaussians.num == log["final"]["n_gaussians"] == len(ply.read_gaussians(tmp_path / "gaussians.ply")["means"])
    assert (head.triplane is not None) == triplane


def test_resume_after_interruption_matches_uninterrupted(dataset, tmp_path, monkeypatch):
    cfg = small_config(triplane=True)
    full = run(dataset, tmp_path / "a", cfg)

    calls = {"n": 0}
    real_loss = train_mod.photometric_loss

    def dying_loss(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 45:  # killed after the checkpoint of step 40
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_mod, "photometric_loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        run(dataset, tmp_path / "b", cfg)
    assert (tmp_path / "b/checkpoint.pt").exists() and not (tmp_path / "b/head.pt").exists()
    monkeypatch.setattr(train_mod, "photometric_loss", real_loss)
    resumed = run(dataset, tmp_path / "b", cfg)
    assert resumed["resumed_from"] == [40]
    assert resumed["loss"] == full["loss"]
    a = CanonicalHead.load(tmp_path / "a/head.pt").raw_attributes()
    b = CanonicalHead.load(tmp_path / "b/head.pt").raw_attributes()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_changed_settings_do_not_resume(dataset, tmp_path, monkeypatch):
    real_loss = train_mod.photometric_loss
    calls = {"n": 0}

    def dying_loss(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 25:
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_mod, "photometric_loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        run(dataset, tmp_path, small_config(iterations=40))
    monkeypatch.setattr(train_mod, "photometric_loss", real_loss)
    result = run(dataset, tmp_path, small_config(iterations=30, lambda_ssim=0.0))
    assert result["resumed_from"] == [] and len(result["loss"]) == 30


def test_cli_runs_and_reports_bad_input(dataset, tmp_path):
    out = tmp_path / "cli"
    rc = main(["--dataset-dir", str(dataset), "--points", str(dataset / "fit/points_mesh.ply"),
               "--head", str(out / "head.pt"), "--ply", str(out / "g.ply"), "--log", str(out / "log.json"),
               "--iterations", "5", "--resolution", "24", "--eval-views", "2", "--triplane", "false",
               "--network-resolutions", "16,32", "--device", "cpu", "--threads", "1"])
    assert rc == 0 and (out / "head.pt").exists()
    rc = main(["--dataset-dir", str(tmp_path / "nothing"), "--points", str(dataset / "fit/points_mesh.ply"),
               "--head", str(out / "h2.pt"), "--ply", str(out / "g2.ply"), "--log", str(out / "l2.json"),
               "--iterations", "5", "--device", "cpu"])
    assert rc == 1 and not (out / "h2.pt").exists()


def test_non_finite_loss_skips_the_step_and_halves_the_lr(dataset, tmp_path, monkeypatch):
    """As the talker: a NaN loss (or gradient) skips that step and halves the learning rates; training
    goes on and the head stays finite."""
    calls = {"n": 0}
    real_loss = train_mod.photometric_loss

    def sometimes_nan(*args, **kwargs):
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] in (3, 7) else loss

    monkeypatch.setattr(train_mod, "photometric_loss", sometimes_nan)
    cfg = small_config(iterations=12, densify_start=100, checkpoint_every=0, log_every=4)
    result = run(dataset, tmp_path, cfg)
    assert result["skipped_steps"] == 2
    assert result["skipped"] == [{"step": 3, "lr_scale": 0.5}, {"step": 7, "lr_scale": 0.25}]
    assert result["lr_scale"] == 0.25 and len(result["loss"]) == 10
    attrs = CanonicalHead.load(tmp_path / "head.pt").raw_attributes()
    assert all(torch.isfinite(v).all() for v in attrs.values())
