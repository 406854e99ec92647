"""Rasteriser speed and agreement.

CPU (always): the tile-based torch backend, forward and forward+backward, at 128x128 with 5k Gaussians on
2 threads, against the brute-force reference in the same run (time ratio and max abs difference).
CPU backends side by side (always): torch tiles vs numba tiles at 128/256/512 px with the default
model's Gaussian count (18k), forward and forward+backward, the two backends alternating within each
repeat (the machine may be shared: only ratios within one run mean much); their max abs difference
(and against the brute-force reference at the smallest size) and the largest gradient difference
relative to the torch backend's largest gradient. Batched cameras (always): a talker batch (--batch frames at
--batch-size px, 18k Gaussians) with numba, frame by frame (rasterize) vs one call (rasterize_batch).
GPU (when CUDA is available): gsplat vs inria vs torch at 512x512 with 40k Gaussians, forward and
forward+backward, and their mutual agreement (mean absolute colour difference).

    python benchmarks/rasterize.py [--head results/demo/base/canonical/head.pt] [--out benchmarks/rasterize.json]

Scene: the synthetic textured head of gtalker.splat.synthetic (Gaussians over an ellipsoid, scales from
3-NN distances, opacity 0.9), or a trained canonical head with --head. Figures go to stdout and JSON.
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

# Idle OpenMP threads sleep rather than spin (as `python -m gtalker.canonical` does); set before torch.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gtalker.omp import set_default_waiting  # noqa: E402

set_default_waiting()  # as the pipeline's steps wait; before torch loads libgomp

import torch  # noqa: E402


from gtalker.splat.geometry import project  # noqa: E402
from gtalker.splat.backends.torch_tiles import bin_to_tiles  # noqa: E402
from gtalker.splat.rasterize import rasterize  # noqa: E402
from gtalker.splat.synthetic import head_poses, head_scene  # noqa: E402


def scene_tensors(n: int, head: str | None, device: torch.device) -> dict[str, torch.Tensor]:
    if head:
        from gtalker.canonical.model import CanonicalHead

        h = CanonicalHead.load(head)
        with torch.no_grad():
            a = h.activate(h.raw_attributes())
        from gtalker.splat.sh import eval_sh

        colors = eval_sh(0, a["sh"], torch.ones_like(a["means"]))
        s = {"means": a["means"], "quats": a["quats"], "scales": a["scales"], "opacities": a["opacities"],
             "colors": colors}
    else:
        s = head_scene(n, seed=0)
    return {k: v.detach().to(device).contiguous() for k, v in s.items()}


def camera(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    R, t = head_poses(8, seed=0)
    V = torch.eye(4)
    V[:3, :3] = torch.from_numpy(R[2])
    V[:3, 3] = torch.from_numpy(t[2])
    f = 1.6 * size
    K = torch.tensor([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]])
    return K.to(device), V.to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_backend(scene, K, V, size, backend, device, repeats: int, backward: bool) -> float:
    """Median wall milliseconds of one render (+ backward of a weighted sum of colour, alpha and depth).

    Also records the median process CPU milliseconds in CPU_MS (on a shared machine, CPU time with one
    thread is a steadier figure than wall time).
    """
    bg = torch.full((size, size, 3), 0.3, device=device)
    times, cpu = [], []
    for r in range(repeats + 1):
        params = {k: v.clone().requires_grad_(backward) for k, v in scene.items()}
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        out = rasterize(params["means"], params["quats"], params["scales"], params["opacities"], params["colors"],
                        K, V, size, size, background=bg, backend=backend)
        if backward:
            (out.color.sum() + 0.5 * out.alpha.sum() + 0.1 * out.depth.sum()).backward()
        sync(device)
        if r > 0:  # the first run warms up (allocations, kernel compilation)
            times.append((time.perf_counter() - t0) * 1000.0)
            cpu.append((time.process_time() - c0) * 1000.0)
    CPU_MS[(backend, backward, size)] = statistics.median(cpu)
    return statistics.median(times)


CPU_MS: dict = {}


def render(scene, K, V, size, backend):
    with torch.no_grad():
        return rasterize(scene["means"], scene["quats"], scene["scales"], scene["opacities"], scene["colors"],
                         K, V, size, size, background=torch.full((size, size, 3), 0.3, device=K.device),
                         backend=backend)


def cpu_figures(args) -> dict:
    torch.set_num_threads(args.threads)
    dev = torch.device("cpu")
    scene = scene_tensors(args.cpu_gaussians, args.head, dev)
    K, V = camera(args.cpu_size, dev)
    proj = project(scene["means"], scene["quats"], scene["scales"], scene["opacities"], K, V, args.cpu_size, args.cpu_size)
    tile_id, _ = bin_to_tiles(proj, args.cpu_size, args.cpu_size)
    a = render(scene, K, V, args.cpu_size, "torch")
    b = render(scene, K, V, args.cpu_size, "reference")
    diff = {f: float((getattr(a, f) - getattr(b, f)).abs().max()) for f in ("color", "alpha", "depth")}
    res = {
        "n_gaussians": int(scene["means"].shape[0]), "size": args.cpu_size, "threads": torch.get_num_threads(),
        "visible": int(proj.visible.sum()), "tile_pairs": int(tile_id.numel()),
        "mean_radius_px": float(proj.radii[proj.visible].float().mean()),
        "coverage": float(a.alpha.mean()),
        "torch_forward_ms": time_backend(scene, K, V, args.cpu_size, "torch", dev, args.repeats, False),
        "torch_fwd_bwd_ms": time_backend(scene, K, V, args.cpu_size, "torch", dev, args.repeats, True),
        "reference_forward_ms": time_backend(scene, K, V, args.cpu_size, "reference", dev, args.ref_repeats, False),
        "reference_fwd_bwd_ms": time_backend(scene, K, V, args.cpu_size, "reference", dev, args.ref_repeats, True),
        "max_abs_diff_vs_reference": diff,
    }
    size = args.cpu_size
    res["cpu_time_ms"] = {"torch_forward": CPU_MS[("torch", False, size)], "torch_fwd_bwd": CPU_MS[("torch", True, size)],
                          "reference_forward": CPU_MS[("reference", False, size)],
                          "reference_fwd_bwd": CPU_MS[("reference", True, size)]}
    res["load_average"] = list(os.getloadavg())
    res["speedup_forward"] = res["reference_forward_ms"] / res["torch_forward_ms"]
    res["speedup_fwd_bwd"] = res["reference_fwd_bwd_ms"] / res["torch_fwd_bwd_ms"]
    res["target_fwd_bwd_ms"] = 150.0
    res["meets_target"] = res["torch_fwd_bwd_ms"] <= 150.0
    return res


def _step(scene, K, V, size, backend, backward: bool) -> tuple[float, float, dict]:
    """Wall and process-CPU ms of one render (+ backward), and the leaves (with .grad when backward)."""
    bg = torch.full((size, size, 3), 0.3)
    params = {k: v.clone().requires_grad_(backward) for k, v in scene.items()}
    t0, c0 = time.perf_counter(), time.process_time()
    out = rasterize(params["means"], params["quats"], params["scales"], params["opacities"], params["colors"],
                    K, V, size, size, background=bg, backend=backend)
    if backward:
        (out.color.sum() + 0.5 * out.alpha.sum() + 0.1 * out.depth.sum()).backward()
    return (time.perf_counter() - t0) * 1000.0, (time.process_time() - c0) * 1000.0, params


def cpu_backends(args) -> dict:
    """torch vs numba tiles per size: median times (alternating backends in every repeat), ratios, agreement."""
    torch.set_num_threads(args.threads)
    dev = torch.device("cpu")
    scene = scene_tensors(args.compare_gaussians, args.head, dev)
    names = ("torch", "numba")
    res: dict = {"n_gaussians": int(scene["means"].shape[0]), "threads": torch.get_num_threads(),
                 "repeats": args.compare_repeats, "load_average_start": list(os.getloadavg()), "sizes": {}}
    for size in args.compare_sizes:
        K, V = camera(size, dev)
        imgs = {b: render(scene, K, V, size, b) for b in names}
        fig: dict = {"max_abs_diff_numba_vs_torch": {f: float((getattr(imgs["numba"], f) - getattr(imgs["torch"], f))
                                                              .abs().max()) for f in ("color", "alpha", "depth")}}
        if size == min(args.compare_sizes):
            ref = render(scene, K, V, size, "reference")
            fig["max_abs_diff_vs_reference"] = {
                b: {f: float((getattr(imgs[b], f) - getattr(ref, f)).abs().max()) for f in ("color", "alpha", "depth")}
                for b in names}
        wall: dict = {(b, m): [] for b in names for m in ("forward", "fwd_bwd")}
        cpu: dict = {(b, m): [] for b in names for m in ("forward", "fwd_bwd")}
        grads = {}
        for r in range(args.compare_repeats + 1):
            for b in (names if r % 2 == 0 else names[::-1]):
                for mode, backward in (("forward", False), ("fwd_bwd", True)):
                    w, c, params = _step(scene, K, V, size, b, backward)
                    if r > 0:  # the first repeat warms up (numba loads its compiled kernels)
                        wall[(b, mode)].append(w)
                        cpu[(b, mode)].append(c)
                    if backward:
                        grads[b] = {k: v.grad for k, v in params.items()}
        for b in names:
            for mode in ("forward", "fwd_bwd"):
                fig[f"{b}_{mode}_ms"] = round(statistics.median(wall[(b, mode)]), 2)
                fig[f"{b}_{mode}_cpu_ms"] = round(statistics.median(cpu[(b, mode)]), 2)
        for mode in ("forward", "fwd_bwd"):
            fig[f"speedup_{mode}"] = round(fig[f"torch_{mode}_ms"] / fig[f"numba_{mode}_ms"], 2)
            fig[f"speedup_{mode}_cpu"] = round(fig[f"torch_{mode}_cpu_ms"] / fig[f"numba_{mode}_cpu_ms"], 2)
        fig["numba_fps_forward"] = round(1000.0 / fig["numba_forward_ms"], 1)
        fig["max_grad_diff_rel"] = {k: float((grads["numba"][k] - grads["torch"][k]).abs().max()
                                             / grads["torch"][k].abs().max().clamp_min(1e-12)) for k in scene}
        res["sizes"][str(size)] = fig
    res["load_average_end"] = list(os.getloadavg())
    res["numba_exact"] = all(max(f["max_abs_diff_numba_vs_torch"].values()) <= 1e-5
                             and max(f["max_grad_diff_rel"].values()) <= 1e-4 for f in res["sizes"].values())
    return res


def batch_figures(args) -> dict:
    """numba: B frames rendered (+ backward) one rasterize call each vs one rasterize_batch call."""
    from gtalker.splat.rasterize import rasterize_batch

    torch.set_num_threads(args.threads)
    dev = torch.device("cpu")
    scene = scene_tensors(args.compare_gaussians, args.head, dev)
    size, b_n = args.batch_size, args.batch
    cams = [camera(size, dev) for _ in range(b_n)]
    R, t = head_poses(8, seed=0)
    for b in range(b_n):  # a different pose per frame
        cams[b][1][:3, :3] = torch.from_numpy(R[b % 8])
        cams[b][1][:3, 3] = torch.from_numpy(t[b % 8])
    K = torch.stack([c[0] for c in cams])
    V = torch.stack([c[1] for c in cams])
    bg = torch.full((b_n, size, size, 3), 0.3)
    times: dict = {"frames": [], "batched": []}
    for r in range(args.compare_repeats + 1):
        for mode in (("frames", "batched") if r % 2 == 0 else ("batched", "frames")):
            params = {k: v.clone().requires_grad_(True) for k, v in scene.items()}
            t0 = time.perf_counter()
            if mode == "batched":
                out = rasterize_batch(params["means"], params["quats"], params["scales"], params["opacities"],
                                      params["colors"], K, V, size, size, background=bg, backend="numba")
                img = out.color
            else:
                img = torch.stack([rasterize(params["means"], params["quats"], params["scales"], params["opacities"],
                                             params["colors"], K[b], V[b], size, size, background=bg[b],
                                             backend="numba").color for b in range(b_n)])
            img.sum().backward()
            if r > 0:
                times[mode].append((time.perf_counter() - t0) * 1000.0)
    res = {"batch": b_n, "size": size, "n_gaussians": int(scene["means"].shape[0]),
           "frames_fwd_bwd_ms": round(statistics.median(times["frames"]), 2),
           "batched_fwd_bwd_ms": round(statistics.median(times["batched"]), 2)}
    res["speedup"] = round(res["frames_fwd_bwd_ms"] / res["batched_fwd_bwd_ms"], 2)
    return res


def gpu_figures(args) -> dict:
    if not torch.cuda.is_available():
        return {"available": False, "note": "no CUDA device: GPU figures not measured"}
    dev = torch.device("cuda")
    scene = scene_tensors(args.gpu_gaussians, args.head, dev)
    K, V = camera(args.gpu_size, dev)
    out: dict = {"available": True, "device": torch.cuda.get_device_name(0), "n_gaussians": int(scene["means"].shape[0]),
                 "size": args.gpu_size, "backends": {}}
    images = {}
    for backend in ("gsplat", "inria", "torch"):
        try:
            images[backend] = render(scene, K, V, args.gpu_size, backend).color
            out["backends"][backend] = {
                "forward_ms": time_backend(scene, K, V, args.gpu_size, backend, dev, args.repeats, False),
                "fwd_bwd_ms": time_backend(scene, K, V, args.gpu_size, backend, dev, args.repeats, True)}
        except Exception as err:  # noqa: BLE001 - report a missing library and go on
            out["backends"][backend] = {"error": f"{type(err).__name__}: {err}"}
    names = sorted(images)
    out["mean_abs_diff"] = {f"{x}-{y}": float((images[x] - images[y]).abs().mean())
                            for i, x in enumerate(names) for y in names[i + 1:]}
    out["agree_within_1e-3"] = all(v <= 1e-3 for v in out["mean_abs_diff"].values())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--head", default=None, help="benchmark a trained canonical head instead of the synthetic one")
    p.add_argument("--cpu-size", type=int, default=128)
    p.add_argument("--cpu-gaussians", type=int, default=5000)
    p.add_argument("--gpu-size", type=int, default=512)
    p.add_argument("--gpu-gaussians", type=int, default=40000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--ref-repeats", type=int, default=2)
    p.add_argument("--compare-sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--compare-gaussians", type=int, default=18000, help="the default model's count")
    p.add_argument("--compare-repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=4, help="frames of the batched-camera figure (talker batch)")
    p.add_argument("--batch-size", type=int, default=128, help="resolution of the batched-camera figure")
    p.add_argument("--skip-reference", action="store_true", help="skip the torch vs brute-force figures")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = p.parse_args()
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                          "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                          "gomp_spincount": os.environ.get("GOMP_SPINCOUNT")},
              "cpu_backends": cpu_backends(args), "cpu_batch": batch_figures(args),
              "cpu": {} if args.skip_reference else cpu_figures(args), "gpu": gpu_figures(args)}
    cb = result["cpu_backends"]
    print(f"CPU backends, {cb['n_gaussians']} Gaussians, {cb['threads']} threads, median of {cb['repeats']} "
          f"(load average {cb['load_average_start'][0]:.1f}):")
    for size, f in cb["sizes"].items():
        print(f"  {size:>4s} px: forward torch {f['torch_forward_ms']:.1f} / numba {f['numba_forward_ms']:.1f} ms "
              f"({f['speedup_forward']:.1f}x), forward+backward torch {f['torch_fwd_bwd_ms']:.1f} / numba "
              f"{f['numba_fwd_bwd_ms']:.1f} ms ({f['speedup_fwd_bwd']:.1f}x); max |diff| "
              f"{max(f['max_abs_diff_numba_vs_torch'].values()):.2e}, grad rel {max(f['max_grad_diff_rel'].values()):.2e}")
    print(f"  numba exact (<= 1e-5 image, <= 1e-4 relative gradient): {cb['numba_exact']}")
    bf = result["cpu_batch"]
    print(f"Batched cameras (numba, {bf['batch']} x {bf['size']} px, forward+backward): frame by frame "
          f"{bf['frames_fwd_bwd_ms']:.1f} ms, one call {bf['batched_fwd_bwd_ms']:.1f} ms ({bf['speedup']:.2f}x)")
    c = result["cpu"]
    if not c:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
        return
    print(f"CPU {c['size']}x{c['size']}, {c['n_gaussians']} Gaussians ({c['tile_pairs']} tile pairs, "
          f"mean radius {c['mean_radius_px']:.1f} px), {c['threads']} threads:")
    print(f"  torch tiles : forward {c['torch_forward_ms']:.1f} ms, forward+backward {c['torch_fwd_bwd_ms']:.1f} ms "
          f"(target <= 150 ms: {'met' if c['meets_target'] else 'NOT met'})")
    print(f"  brute force : forward {c['reference_forward_ms']:.1f} ms, forward+backward "
          f"{c['reference_fwd_bwd_ms']:.1f} ms")
    ct = c["cpu_time_ms"]
    print(f"  process CPU time: torch {ct['torch_forward']:.1f} / {ct['torch_fwd_bwd']:.1f} ms, brute force "
          f"{ct['reference_forward']:.1f} / {ct['reference_fwd_bwd']:.1f} ms (forward / forward+backward); "
          f"load average {c['load_average'][0]:.1f}")
    print(f"  speed-up    : {c['speedup_forward']:.1f}x forward, {c['speedup_fwd_bwd']:.1f}x forward+backward; "
          f"max |diff| {c['max_abs_diff_vs_reference']}")
    g = result["gpu"]
    if not g["available"]:
        print("GPU: " + g["note"])
    else:
        print(f"GPU {g['device']}, {g['size']}x{g['size']}, {g['n_gaussians']} Gaussians:")
        for name, fig in g["backends"].items():
            print(f"  {name:7s}: {fig}")
        print(f"  mean |diff|: {g['mean_abs_diff']}")
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
