"""Render speed of a trained model on the CPU: today's path against the fast one, in the same run.

    python benchmarks/render_speed.py --model results/demo/base/talker/model.pt --dataset-dir results/demo \\
        [--frames 16] [--repeats 5] [--batches 1 4 8] [--threads 2] [--out benchmarks/render_speed.json]

What is rendered is the default val render: size --size (512), the head rasterised at the model's
training size and upsampled (render.raster_size: train), train_filter on, backend auto. Configurations:

- torch: the render path when issue 15 was filed: the torch tile rasteriser, TalkingHead.fast_render
  off, batch 1 (frame by frame, nothing kept between frames, F.interpolate);
- baseline: the same path with the numba rasteriser;
- fast_b<B>: fast_render on (frame-independent query projections kept, the batch's heads rasterised in
  one call, upsampled by two matrix products), B frames per call;
- lowrank_b<B>: for an attention model, the same canonical head with a low-rank deformation
  (talker.mode: lowrank, rank 8; untrained, which costs the same) through the fast path.

The configurations alternate within every repeat (the machine may be shared; only ratios within one run
mean much); each figure is the median over repeats of wall (and process CPU) milliseconds per frame,
model work only: the frames' conditions, cameras and backgrounds are loaded before timing. Agreement:
baseline against fast images (max |diff| in float and in 8-bit levels, PSNR of each against the
recorded frames and their difference), and every configuration's PSNR against the recorded frames
minus the torch render's. Stage split of one frame of the fast path at batch 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gtalker.omp import set_default_waiting  # noqa: E402

set_default_waiting()  # as the pipeline's steps wait; before torch loads libgomp

import numpy as np  # noqa: E402
import torch  # noqa: E402


from gtalker.audio.windowing import windows  # noqa: E402
from gtalker.camera import scale_intrinsics  # noqa: E402
from gtalker.common import write_json  # noqa: E402
from gtalker.data import FrameDataset  # noqa: E402
from gtalker.imaging import psnr  # noqa: E402
from gtalker.render.core import RENDER_FIELDS, to_uint8  # noqa: E402
from gtalker.render.jobs import load_features, val_indices  # noqa: E402
from gtalker.talker.deform import DeformConfig  # noqa: E402
from gtalker.talker.model import Conditions, TalkingHead, load  # noqa: E402
from gtalker.talker.upsample import composite_upsampled  # noqa: E402


def load_frames(dataset_dir: str, split: str, features: str, n: int, size: int) -> dict[str, Any]:
    """The first n validation frames' conditions, cameras, backgrounds and recorded images."""
    idx = val_indices(split)[:n]
    feats = load_features(features)
    data = FrameDataset(dataset_dir, idx, size, fields=RENDER_FIELDS + ("image",))
    items = [data[k] for k in range(len(idx))]
    return {"indices": idx,
            "audio": torch.as_tensor(np.stack([windows(feats, i) for i in idx])).float(),
            "blink": torch.as_tensor([float(it["blink"]) for it in items]),
            "viewmat": torch.stack([torch.as_tensor(it["viewmat"]) for it in items]).float(),
            "K": torch.stack([torch.as_tensor(it["K"]) for it in items]).float(),
            "background": torch.stack([torch.as_tensor(it["background"]) for it in items]).float(),
            "image": torch.stack([torch.as_tensor(it["image"]) for it in items]).float()}


def render_all(model: TalkingHead, frames: dict[str, Any], batch: int, size: int, inner: int,
               backend: str = "auto") -> torch.Tensor:
    """Every frame rendered, `batch` frames per call, as the val render does it."""
    out = []
    with torch.no_grad():
        for s in range(0, len(frames["indices"]), batch):
            sl = slice(s, s + batch)
            cond = Conditions(frames["audio"][sl], frames["blink"][sl], frames["viewmat"][sl])
            img, _ = model.render_batch(cond, frames["K"][sl], size, size, frames["background"][sl], backend,
                                        filter_size=model.train_size, inner_size=inner)
            out.append(img)
    return torch.cat(out)


def stage_split(model: TalkingHead, frames: dict[str, Any], size: int, inner: int, repeats: int) -> dict[str, float]:
    """Median ms of the fast path's stages for one frame: deformation (+activation), rasterisation
    (projection, SH, tiles) at the inner size, upsampling + compositing."""
    times: dict[str, list[float]] = {"deformation": [], "rasterisation": [], "upsample_composite": []}
    with torch.no_grad():
        for r in range(repeats + 1):
            for k in range(len(frames["indices"])):
                cond = Conditions(frames["audio"][k:k + 1], frames["blink"][k:k + 1], frames["viewmat"][k:k + 1])
                t0 = time.perf_counter()
                attrs, _ = model.deformed(cond)
                t1 = time.perf_counter()
                K_inner = scale_intrinsics(frames["K"][k], inner / size)[None]
                out = model.rasterize_frames(attrs, K_inner, cond.viewmat, inner, inner, None, "auto",
                                             model.train_size)
                t2 = time.perf_counter()
                composite_upsampled(out.color, out.alpha, size, frames["background"][k:k + 1])
                t3 = time.perf_counter()
                if r > 0:
                    for name, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                        times[name].append(dt * 1000.0)
    return {k: round(statistics.median(v), 2) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="results/demo/base/talker/model.pt")
    p.add_argument("--dataset-dir", default="results/demo")
    p.add_argument("--split", default=None, help="default: <dataset-dir>/split.json")
    p.add_argument("--features", default=None, help="default: <dataset-dir>/audio/features_melnorm.npy")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    split = args.split or str(Path(args.dataset_dir) / "split.json")
    features = args.features or str(Path(args.dataset_dir) / "audio" / "features_melnorm.npy")
    model = load(args.model).eval()
    frames = load_frames(args.dataset_dir, split, features, args.frames, args.size)
    inner = model.train_size if model.train_size and model.train_size < args.size else None
    configs: dict[str, tuple[TalkingHead, bool, int, str]] = {"torch": (model, False, 1, "torch"),
                                                              "baseline": (model, False, 1, "auto")}
    configs.update({f"fast_b{b}": (model, True, b, "auto") for b in args.batches})
    if model.cfg.mode != "lowrank":
        lowrank = TalkingHead(model.canonical, DeformConfig(mode="lowrank", rank=8, tokens=model.cfg.tokens,
                                                            audio_channels=model.cfg.audio_channels),
                              train_size=model.train_size).eval()
        configs.update({f"lowrank_b{b}": (lowrank, True, b, "auto") for b in args.batches})
    result: dict[str, Any] = {
        "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "load_average_start": list(os.getloadavg())},
        "model": args.model, "n_gaussians": model.n_gaussians, "deformation": model.cfg.mode,
        "size": args.size, "raster_size": inner or args.size, "frames": len(frames["indices"]),
        "repeats": args.repeats}
    images: dict[str, torch.Tensor] = {}
    wall: dict[str, list[float]] = {k: [] for k in configs}
    cpu: dict[str, list[float]] = {k: [] for k in configs}
    names = list(configs)
    for r in range(args.repeats + 1):
        for name in (names if r % 2 == 0 else names[::-1]):
            m, fast, batch, backend = configs[name]
            m.fast_render = fast
            t0, c0 = time.perf_counter(), time.process_time()
            img = render_all(m, frames, batch, args.size, inner, backend)
            w, c = time.perf_counter() - t0, time.process_time() - c0
            if r == 0:
                images[name] = img  # the first repeat warms up (numba loads its kernels)
            else:
                wall[name].append(1000.0 * w / len(frames["indices"]))
                cpu[name].append(1000.0 * c / len(frames["indices"]))
    model.fast_render = True
    figs: dict[str, Any] = {}
    for name in names:
        ms = statistics.median(wall[name])
        figs[name] = {"batch": configs[name][2], "ms_per_frame": round(ms, 2), "fps": round(1000.0 / ms, 2),
                      "cpu_ms_per_frame": round(statistics.median(cpu[name]), 2),
                      "speedup_vs_baseline": round(statistics.median(wall["baseline"]) / ms, 2),
                      "cpu_speedup_vs_baseline": round(statistics.median(cpu["baseline"])
                                                       / statistics.median(cpu[name]), 2)}
    result["configs"] = figs
    target = frames["image"]
    agreement = {}
    for name in names:
        if name in ("baseline", "torch") or name.startswith("lowrank"):
            continue
        a, b = images["baseline"], images[name]
        levels = np.abs(np.stack([to_uint8(x) for x in a]).astype(np.int16)
                        - np.stack([to_uint8(x) for x in b]).astype(np.int16))
        agreement[name] = {"max_abs_diff": float((a - b).abs().max()), "max_abs_diff_8bit": int(levels.max()),
                           "pixels_differing_8bit": int((levels > 0).sum()),
                           "psnr_vs_baseline_db": round(psnr(b, a), 2),
                           "psnr_recorded_baseline_db": round(psnr(a, target), 4),
                           "psnr_recorded_fast_db": round(psnr(b, target), 4)}
        agreement[name]["psnr_difference_db"] = round(agreement[name]["psnr_recorded_fast_db"]
                                                      - agreement[name]["psnr_recorded_baseline_db"], 4)
    result["agreement"] = agreement
    torch_psnr = psnr(images["torch"], target)
    result["psnr_vs_torch_render_db"] = {name: round(psnr(images[name], target) - torch_psnr, 4) for name in names
                                         if not name.startswith("lowrank")}
    result["fast_stages_ms_batch1"] = stage_split(model, frames, args.size, inner, max(1, args.repeats // 2))
    result["machine"]["load_average_end"] = list(os.getloadavg())
    write_json(args.out, result)
    for name, f in figs.items():
        print(f"{name:12s} {f['ms_per_frame']:8.1f} ms/frame  {f['fps']:6.1f} FPS  x{f['speedup_vs_baseline']:.2f} "
              f"(CPU time x{f['cpu_speedup_vs_baseline']:.2f})")
    print(f"agreement: {agreement}")
    print(f"PSNR against the recorded frames minus the torch render's: {result['psnr_vs_torch_render_db']}")
    print(f"fast path stages (batch 1): {result['fast_stages_ms_batch1']}")
    print(f"load average {result['machine']['load_average_start']} -> {result['machine']['load_average_end']}; "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
