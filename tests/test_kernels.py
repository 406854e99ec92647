"""gtalker.kernels (rule compile_kernels) compiles every numba kernel that training and rendering run:
afterwards a fresh process trains the canonical head, takes a talker training step and renders upsampled
frames without compiling any of them (numba loads them from its on-disk cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gtalker.common import read_json

REPO = Path(__file__).resolve().parents[1]

# Trains and renders through the pipeline's entry points, recording what numba compiles meanwhile.
# The last compile must be `probe` (defined here, so never cached): it shows the recorder works.
TRAIN_AND_RENDER = r"""
import json, sys
from pathlib import Path
import numba, torch
from numba.core import event

compiled = []
class Recorder(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__module__ + "." + ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Recorder())

from gtalker.canonical.train import CanonicalConfig, train
from gtalker.splat.synthetic import write_dataset
from test_talker_fast_render import batch, small_model

root = Path(sys.argv[1])
write_dataset(root, n_frames=4, size=32, n_gaussians=300, n_points=200, init="mesh")
cfg = CanonicalConfig(iterations=3, resolution=32, densify_start=1, densify_stop=3, densify_every=2,
                      checkpoint_every=100, log_every=1, eval_views=2, backend="numba", triplane=True)
train(str(root), str(root / "fit/points_mesh.ply"), str(root / "head.pt"), str(root / "g.ply"),
      str(root / "log.json"), cfg, torch.device("cpu"))

model = small_model().train()
cond, K, bg = batch(2, 32)
pred, _ = model.render_batch(cond, K, 32, 32, bg, "numba")
pred.sum().backward()
model.eval()
with torch.no_grad():
    cond, K, bg = batch(2, 64)
    model.render_batch(cond, K, 64, 64, bg, "numba", filter_size=32, inner_size=32)

@numba.njit
def probe(x):
    return x + 1
probe(1)
print("COMPILED " + json.dumps(compiled))
"""


def test_a_process_after_the_warm_up_compiles_no_kernel(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests")])}
    report = tmp_path / "numba.json"
    subprocess.run([sys.executable, "-m", "gtalker.kernels", "--out", str(report), "--device", "cpu"],
                   env=env, check=True, capture_output=True, text=True)
    first = read_json(report)
    assert len(first["kernels"]) == 10 and set(first["kernels"].values()) == {"compiled"}
    assert all(c.startswith(str(tmp_path / "cache")) for c in first["cache"])
    assert first["librosa_seconds"] > 0

    (tmp_path / "data").mkdir()
    run = subprocess.run([sys.executable, "-c", TRAIN_AND_RENDER, str(tmp_path / "data")], env=env,
                         check=True, capture_output=True, text=True)
    line = [x for x in run.stdout.splitlines() if x.startswith("COMPILED ")][-1]
    compiled = json.loads(line.removeprefix("COMPILED "))
    assert compiled[-1] == "__main__.probe"
    assert [name for name in compiled if name.startswith("gtalker.")] == []

    subprocess.run([sys.executable, "-m", "gtalker.kernels", "--out", str(report), "--device", "cpu"],
                   env=env, check=True, capture_output=True, text=True)
    assert set(read_json(report)["kernels"].values()) == {"loaded from cache"}
