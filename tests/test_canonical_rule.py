"""The train_canonical Snakemake rule on a synthetic dataset: outputs, flags and the log file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gtalker.splat.synthetic import write_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_train_canonical_rule(tmp_path):
    write_dataset(tmp_path / "results/demo", n_frames=6, size=32, n_gaussians=600, n_points=300, init="mesh")
    (tmp_path / "results/demo/fit/trainable.json").write_text("{}\n")  # the check before training (its own rule)
    (tmp_path / "results/_kernels").mkdir()
    (tmp_path / "results/_kernels/numba.json").write_text("{}\n")  # the kernels compiled before (its own rule)
    override = tmp_path / "override.yaml"
    override.write_text(
        "canonical:\n  iterations: 12\n  resolution: 24\n  backend: torch\n  eval_views: 2\n"
        "  network: {resolutions: [16, 32]}\n  densify: {start: 5, stop: 10, every: 5}\n"
        "variants:\n  base: {}\n  plain: {canonical: {triplane: false}}\n")
    targets = [f"results/demo/{v}/canonical/{f}" for v in ("base", "plain")
               for f in ("head.pt", "gaussians.ply", "train_log.json")]
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--cores", "1", "--allowed-rules", "train_canonical",
           "--configfile", str(REPO / "config.yaml"), str(override)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for t in targets:
        assert (tmp_path / t).exists(), t
    base = json.loads((tmp_path / "results/demo/base/canonical/train_log.json").read_text())
    plain = json.loads((tmp_path / "results/demo/plain/canonical/train_log.json").read_text())
    assert base["config"]["iterations"] == 12 and base["config"]["network_resolutions"] == [16, 32]
    assert base["config"]["triplane"] is True and plain["config"]["triplane"] is False
    log = (tmp_path / "logs/demo/canonical/train_canonical.base.log").read_text()
    assert "final:" in log
