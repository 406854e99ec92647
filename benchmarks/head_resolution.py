"""What a larger head resolution costs: canonical step, talker step and a rendered head at 128 vs 256 px.

    python benchmarks/head_resolution.py [--sizes 128 256] [--backend numba] [--gaussians 18000] [--batch 4]
        [--repeats 3] [--rounds 2] [--full-run benchmarks/full_run.json] [--out benchmarks/head_resolution.json]

The steps are those of benchmarks/profile_steps.py (same stages, synthetic 18k-Gaussian tri-plane head,
random targets/audio): a canonical training step, a talker training step (batch --batch), and one frame
rendered at the head size (deformation, projection, SH, rasterisation; no upsampling). The sizes
alternate (ABBA over --rounds), so that load on a shared machine hits both alike; medians per stage.
Projection: the default demo's canonical and talker stage seconds of --full-run scaled by the step-time
ratio (an estimate of what training at the larger size would take, not a run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gtalker.omp import set_default_waiting  # noqa: E402

set_default_waiting()  # as the pipeline's steps wait; before torch loads libgomp

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_steps import profile_canonical, profile_render, profile_talker, raster_impl, summarise  # noqa: E402


from gtalker.common import write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--backend", default="numba")
    p.add_argument("--gaussians", type=int, default=18000)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--audio-channels", type=int, default=80)
    p.add_argument("--repeats", type=int, default=3, help="timed steps per size and round")
    p.add_argument("--rounds", type=int, default=2, help="rounds; the size order reverses every round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--full-run", default=str(Path(__file__).with_name("full_run.json")))
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    impl = raster_impl(args.backend)
    kinds = (("canonical", profile_canonical, {}),
             ("talker", profile_talker, {k: args.batch for k in ("activation", "projection", "sh", "rasterise")}),
             ("render", profile_render, {}))
    times = {s: {k: defaultdict(list) for k, _, _ in kinds} for s in args.sizes}
    result: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                                "threads": torch.get_num_threads(), "load_average_start": list(os.getloadavg())},
                    "backend": args.backend, "n_gaussians": args.gaussians, "batch": args.batch,
                    "repeats": args.repeats, "rounds": args.rounds}
    t0 = time.perf_counter()
    for r in range(args.rounds):
        for size in (args.sizes if r % 2 == 0 else args.sizes[::-1]):
            ns = argparse.Namespace(gaussians=args.gaussians, canonical_size=size, talker_size=size, render_size=size,
                                    batch=args.batch, audio_channels=args.audio_channels, repeats=args.repeats)
            for kind, fn, _ in kinds:
                fn(ns, impl, times[size][kind])
            print(f"round {r} size {size}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    sizes: dict = {}
    for size in args.sizes:
        sizes[str(size)] = {kind: summarise(times[size][kind], per_step) for kind, _, per_step in kinds}
    result["sizes"] = sizes
    base = str(args.sizes[0])
    ratios = {str(s): {kind: round(sizes[str(s)][kind]["total_ms"] / sizes[base][kind]["total_ms"], 2)
                       for kind, _, _ in kinds} for s in args.sizes[1:]}
    result["ratio_vs_" + base] = ratios
    full = Path(args.full_run)
    if full.exists():
        stages = json.loads(full.read_text()).get("stage_seconds", {})
        result["projected_stage_seconds"] = {
            "source": f"{full.name} stage_seconds (at {base} px) x step-time ratio",
            **{str(s): {k: round(stages[k] * ratios[str(s)][k], 1) for k in ("canonical", "talker") if k in stages}
               for s in args.sizes[1:]},
            base: {k: stages[k] for k in ("canonical", "talker") if k in stages}}
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    write_json(args.out, result)
    for size, figs in sizes.items():
        print(f"{size:>4s} px: " + ", ".join(f"{k} {v['total_ms']:.0f} ms" for k, v in figs.items()))
    print(f"ratios: {ratios}")
    print(f"projected: {result.get('projected_stage_seconds')}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
