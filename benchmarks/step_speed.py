"""Training step time: the setup `make demo` trained when issue 15 was filed against today's defaults, one run.

    python benchmarks/step_speed.py [--gaussians 18000] [--repeats 4] [--block 5] [--threads 2]
        [--out benchmarks/step_speed.json]

Setups (each a whole step through the trainers' own code: CanonicalHead.render + photometric_loss +
backward + fused Adam for the canonical stage; gtalker.talker.train.train_step for the talker):

- issue: the torch tile rasteriser, the tri-plane through F.grid_sample, canonical and talker at 128 px,
  the attention deformation, no mouth read-out;
- default: the canonical and talker sections of the repository's config.yaml (rasteriser auto = numba,
  compiled tri-plane lookup, their resolutions, deformation mode and sizes, the mouth read-out term).

Scene: the synthetic head of gtalker.splat.synthetic (Gaussians on an ellipsoid, a tri-plane canonical
head, SH degree 3), a talker batch of config batch_size frames with random audio windows (the default
feature width) and the poses of benchmarks/profile_steps.py. The setups alternate within every repeat,
each running --block steps in a row (as a trainer does: caches and thread pools stay warm); the
figures are medians over all steps of wall and process-CPU milliseconds per step (the machine may be
shared: the ratio within one run is the figure). Prints and writes JSON.

The OpenMP environment (gtalker.omp: how idle threads wait) is that of the pipeline's steps unless set
(recorded in the JSON). It weighs on the torch-heavy issue setup far more than on the default: run once
as is and once with GOMP_SPINCOUNT=0 (the issue-time environment, --out benchmarks/step_speed_passive.json).
--shipped compares the two pipelines as shipped instead: each setup in its own process under the
environment its workflow exported (issue: OMP_WAIT_POLICY=PASSIVE, under which libgomp does not spin;
default: gtalker.omp), the processes alternating repeat by repeat (--out benchmarks/step_speed_shipped.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gtalker.omp import WAITING, set_default_waiting  # noqa: E402

set_default_waiting()  # as the pipeline's steps wait; before torch loads libgomp

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from profile_steps import camera, conditions  # noqa: E402

from gtalker.canonical.losses import photometric_loss  # noqa: E402
from gtalker.canonical.model import CanonicalHead  # noqa: E402
from gtalker.common import write_json  # noqa: E402
from gtalker.splat.synthetic import head_scene  # noqa: E402
from gtalker.talker.deform import DeformConfig  # noqa: E402
from gtalker.talker.model import TalkingHead  # noqa: E402
from gtalker.talker.mouth_prior import MouthTerm  # noqa: E402
from gtalker.talker.train import TrainConfig, audio_encoder, build_optimizer, train_step  # noqa: E402

ISSUE = {"backend": "torch", "compiled_triplane": False, "canonical_size": 128, "talker_size": 128,
         "talker": {"mode": "attention"}, "mouth": False}


def default_setup(config_path: Path) -> dict[str, Any]:
    """The default setup from config.yaml (canonical and talker sections)."""
    cfg = yaml.safe_load(config_path.read_text())
    canonical, talker = cfg["canonical"], cfg["talker"]
    return {"backend": canonical.get("backend", "auto"), "compiled_triplane": True,
            "canonical_size": int(canonical["resolution"]), "talker_size": int(talker["size"]),
            "talker": talker, "mouth": float(talker.get("loss", {}).get("mouth", 0.0)) > 0,
            "batch": int(talker.get("batch_size", 4)),
            "audio_channels": int(cfg["audio_features"].get("norm_mels", 40))}


def head(gaussians: int, compiled: bool) -> CanonicalHead:
    pts = head_scene(gaussians, seed=0)
    h = CanonicalHead.from_points(pts["means"], pts["colors"], triplane=True)
    h.gaussians.active_sh_degree = 3
    h.triplane.compiled = compiled
    return h


def canonical_step(setup: dict[str, Any], gaussians: int) -> Callable[[], None]:
    """One canonical training step (render, L1 + D-SSIM, backward, Adam) as a closure."""
    h = head(gaussians, setup["compiled_triplane"])
    opt = torch.optim.Adam(h.parameters(), lr=1e-4, fused=True)
    size = setup["canonical_size"]
    K, V = camera(size)
    target = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(0))
    bg = torch.full((size, size, 3), 0.3)

    def step() -> None:
        out = h.render(K, V, size, size, background=bg, backend=setup["backend"])
        loss = photometric_loss(out.color, target, 0.2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def talker_step(setup: dict[str, Any], gaussians: int, batch: int, channels: int) -> Callable[[], None]:
    """One talker training step (gtalker.talker.train.train_step on a synthetic batch) as a closure."""
    settings = {k: v for k, v in setup["talker"].items() if k != "size"}
    deform = DeformConfig.from_dict({**settings, "audio_channels": channels})
    model = TalkingHead(head(gaussians, setup["compiled_triplane"]), deform, train_size=setup["talker_size"])
    size = setup["talker_size"]
    cfg = TrainConfig(size=size, batch_size=batch, backend=setup["backend"])
    readout = torch.nn.Linear(deform.d_model, 1) if setup["mouth"] else None
    opt = build_optimizer(model, cfg, readout)
    mouth = None
    if readout is not None:
        n = 64
        mouth = MouthTerm(audio_encoder(model), readout, np.random.default_rng(0).standard_normal(n).astype(np.float32),
                          np.ones(n, bool))
    cond = conditions(batch, 0, channels)
    K = torch.stack([camera(size)[0]] * batch)
    item = {"audio": cond.audio, "blink": cond.blink, "viewmat": cond.viewmat, "K": K,
            "image": torch.rand(batch, size, size, 3, generator=torch.Generator().manual_seed(1)),
            "background": torch.full((batch, size, size, 3), 0.3),
            "lip_box": torch.tensor([[size // 3, size // 2, 2 * size // 3, 5 * size // 6]] * batch),
            "index": torch.arange(batch)}
    weights = {"l1": 0.8, "ssim": 0.2, "lip": 0.4, "mouth": 0.1}

    def step() -> None:
        if train_step(model, opt, item, cfg, weights, None, mouth) is None:
            raise RuntimeError("talker step skipped (non-finite)")

    return step


SHIPPED_ENV = {"issue": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}, "default": dict(WAITING)}


def run_one(name: str, setup: dict[str, Any], default: dict[str, Any], args: argparse.Namespace) -> None:
    """--only: one setup's warm-up and args.repeats * args.block steps per stage; wall ms as a JSON line."""
    steps = {"canonical": canonical_step(setup, args.gaussians),
             "talker": talker_step(setup, args.gaussians, default["batch"], default["audio_channels"])}
    for fn in steps.values():
        fn()
    out = {stage: [timed(fn)[0] for _ in range(args.repeats * args.block)] for stage, fn in steps.items()}
    print(json.dumps({"setup": name, "ms": out}), flush=True)


def shipped(args: argparse.Namespace) -> dict[str, Any]:
    """Each setup in its own process under its workflow's OpenMP environment, alternating per repeat."""
    times: dict[str, dict[str, list[float]]] = {n: {"canonical": [], "talker": []} for n in SHIPPED_ENV}
    names = list(SHIPPED_ENV)
    for r in range(args.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            cmd = [sys.executable, __file__, "--only", name, "--repeats", "1", "--block", str(args.block),
                   "--gaussians", str(args.gaussians), "--threads", str(args.threads), "--config", args.config]
            env = {**os.environ, **SHIPPED_ENV[name]}
            line = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.splitlines()[-1]
            for stage, ms in json.loads(line)["ms"].items():
                times[name][stage] += ms
        print(f"repeat {r + 1}/{args.repeats}", flush=True)
    med = {n: {st: round(statistics.median(v), 1) for st, v in t.items()} for n, t in times.items()}
    ratio = {st: round(med["issue"][st] / med["default"][st], 2) for st in ("canonical", "talker")}
    return {"mode": "shipped", "omp_env": SHIPPED_ENV, "ms_per_step": med, "speedup": ratio,
            "table": {"columns": ["stage", "issue setup, PASSIVE (ms/step)", "default, gtalker.omp (ms/step)",
                                  "speed-up"],
                      "rows": [[st, med["issue"][st], med["default"][st], ratio[st]] for st in ("canonical", "talker")]}}


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """(wall ms, process CPU ms) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - w0) * 1000.0, (time.process_time() - c0) * 1000.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gaussians", type=int, default=18000)
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--block", type=int, default=5, help="steps in a row per setup and repeat")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--config", default=str(REPO / "config.yaml"))
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    p.add_argument("--shipped", action="store_true", help="each setup in its own process and OpenMP environment")
    p.add_argument("--only", choices=["issue", "default"], help=argparse.SUPPRESS)  # a --shipped child
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    default = default_setup(Path(args.config))
    setups = {"issue": ISSUE, "default": default}
    if args.only:
        run_one(args.only, setups[args.only], default, args)
        return 0
    if args.shipped:
        load_start = list(os.getloadavg())
        result = shipped(args) | {"gaussians": args.gaussians, "repeats": args.repeats, "block": args.block}
        result["machine"] = {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                             "threads": args.threads, "load_average_start": load_start,
                             "load_average_end": list(os.getloadavg())}
        for row in result["table"]["rows"]:
            print(f"{row[0]:10s} issue (PASSIVE) {row[1]:8.1f} ms  default {row[2]:8.1f} ms  x{row[3]}")
        write_json(args.out, result)
        print(f"wrote {args.out}")
        return 0
    steps = {}
    for name, setup in setups.items():
        steps[(name, "canonical")] = canonical_step(setup, args.gaussians)
        steps[(name, "talker")] = talker_step(setup, args.gaussians, default["batch"], default["audio_channels"])
    times: dict[tuple[str, str], list[tuple[float, float]]] = {k: [] for k in steps}
    load_start = list(os.getloadavg())
    for key, fn in steps.items():  # warm-up: numba compilation, allocator
        fn()
    for r in range(args.repeats):
        for key, fn in steps.items():
            times[key] += [timed(fn) for _ in range(args.block)]
        print(f"repeat {r + 1}/{args.repeats}", flush=True)
    result: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "load_average_start": load_start,
                    "omp_env": {k: os.environ.get(k) for k in WAITING},
                    "load_average_end": list(os.getloadavg())},
        "gaussians": args.gaussians, "repeats": args.repeats, "block": args.block, "batch": default["batch"],
        "setups": {name: {k: v for k, v in s.items() if k != "talker"} | {"talker_mode": s["talker"]["mode"]}
                   for name, s in setups.items()},
        "ms_per_step": {}, "cpu_ms_per_step": {}, "speedup": {}, "cpu_speedup": {},
    }
    for (name, stage), v in times.items():
        result["ms_per_step"].setdefault(name, {})[stage] = round(statistics.median(t[0] for t in v), 1)
        result["cpu_ms_per_step"].setdefault(name, {})[stage] = round(statistics.median(t[1] for t in v), 1)
    for stage in ("canonical", "talker"):
        for key, src in (("speedup", "ms_per_step"), ("cpu_speedup", "cpu_ms_per_step")):
            result[key][stage] = round(result[src]["issue"][stage] / result[src]["default"][stage], 2)
    result["table"] = {
        "columns": ["stage", "issue setup (ms/step)", "default (ms/step)", "speed-up", "speed-up (CPU time)"],
        "rows": [[stage, result["ms_per_step"]["issue"][stage], result["ms_per_step"]["default"][stage],
                  result["speedup"][stage], result["cpu_speedup"][stage]] for stage in ("canonical", "talker")],
    }
    for row in result["table"]["rows"]:
        print(f"{row[0]:10s} issue {row[1]:8.1f} ms  default {row[2]:8.1f} ms  x{row[3]} (CPU time x{row[4]})")
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
