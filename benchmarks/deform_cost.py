"""Cost of one frame's deformation: attention vs the low-rank mode (method.md section 6, critique 1).

For each mode the deformation network of the default talker settings (d_model 64, tri-plane query of
64 features, all attributes, SH degree 3) over `--gaussians` canonical Gaussians: analytic FLOPs per
frame (gtalker.talker.cost) and CPU milliseconds per frame in inference (no autograd), for the whole
deformation (condition tokens + decode) and for the decode alone, at batch 1 and at `--batch`.
The modes alternate within each repeat (the machine may be shared: compare within one run; medians).
The low-rank bases are computed once before timing (a per-model cost, reported as `setup_ms`).

    python benchmarks/deform_cost.py [--gaussians 18000] [--ranks 4 16] [--threads 2] [--out benchmarks/deform_cost.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gtalker.omp import set_default_waiting  # noqa: E402

set_default_waiting()  # as the pipeline's steps wait; before torch loads libgomp

import torch  # noqa: E402


from gtalker.talker.cost import deform_flops  # noqa: E402
from gtalker.talker.deform import DeformConfig, DeformationModel  # noqa: E402

SHAPES = {"means": (3,), "log_scales": (3,), "quats": (4,), "opacity_logits": (), "sh": (16, 3)}
FEATURES = 64  # tri-plane: 32 channels x 2 resolutions (canonical defaults)
AUDIO_CHANNELS = 80  # mel backend


def build(mode: str, rank: int) -> DeformationModel:
    cfg = DeformConfig(mode=mode, rank=rank, audio_channels=AUDIO_CHANNELS, feature_dim=FEATURES)
    model = DeformationModel(cfg, SHAPES, center=torch.zeros(3), extent=0.1)
    for p in model.parameters():  # trained-looking weights (the offset heads start at zero)
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def inputs(batch: int) -> tuple[torch.Tensor, ...]:
    viewmat = torch.eye(4).repeat(batch, 1, 1)
    viewmat[:, 2, 3] = 0.45
    return torch.rand(batch, 8, 16, AUDIO_CHANNELS), torch.rand(batch), viewmat


def time_ms(fn, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gaussians", type=int, default=18000)
    ap.add_argument("--ranks", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/deform_cost.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    variants = [("attention", 0)] + [("lowrank", r) for r in args.ranks]
    models = {f"{m}{r or ''}": build(m, r or 8) for m, r in variants}
    feats = torch.randn(args.gaussians, FEATURES)
    results = {name: {"mode": m.cfg.mode, "rank": m.cfg.rank if m.cfg.mode == "lowrank" else None,
                      **{f"flops_{k}": v for k, v in deform_flops(m.cfg, args.gaussians, SHAPES).items()}}
               for name, m in models.items()}
    with torch.no_grad():
        for name, m in models.items():
            t0 = time.perf_counter()
            m(feats, *inputs(1))                                   # warm-up; lowrank: computes the bases
            results[name]["setup_ms"] = (time.perf_counter() - t0) * 1000
        timings: dict[str, dict[str, list[float]]] = {n: {} for n in models}
        for _ in range(args.repeats):
            for name, m in models.items():
                for batch in (1, args.batch):
                    cond = inputs(batch)
                    tokens = m.deformer.tokens(*cond)
                    timings[name].setdefault(f"ms_per_frame_b{batch}", []).append(
                        time_ms(lambda: m(feats, *cond), 1) / batch)
                    timings[name].setdefault(f"decode_ms_per_frame_b{batch}", []).append(
                        time_ms(lambda: m.deformer.decode(feats, tokens), 1) / batch)
    for name in models:
        results[name].update({k: round(statistics.median(v), 3) for k, v in timings[name].items()})
    base = results["attention"]
    for name, r in results.items():
        r["flops_ratio_vs_attention"] = round(base["flops_frame"] / r["flops_frame"], 2)
        r["ms_ratio_vs_attention_b1"] = round(base["ms_per_frame_b1"] / r["ms_per_frame_b1"], 2)
        print(f"{name:10s} {r['flops_frame'] / 1e6:9.2f} MFLOP/frame (x{r['flops_ratio_vs_attention']:.1f} fewer)  "
              f"{r['ms_per_frame_b1']:8.2f} ms/frame b1 (x{r['ms_ratio_vs_attention_b1']:.1f})  "
              f"{r[f'ms_per_frame_b{args.batch}']:8.2f} ms/frame b{args.batch}  decode {r['decode_ms_per_frame_b1']:.2f} ms")
    out = {"gaussians": args.gaussians, "threads": args.threads, "repeats": args.repeats,
           "batch": args.batch, "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
           "cpu_count": os.cpu_count(), "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
