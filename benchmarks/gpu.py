"""GPU figures in one run of under 10 minutes, for the day an H100/H200 is lent (issue 15, item 5).

    python benchmarks/gpu.py [--out benchmarks/gpu.json] [--budget-s 540]
    python benchmarks/gpu.py --quick --device cpu --out /tmp/gpu.json    # small sizes: checks the script

1. Rasterisation at --size (512) with --gaussians (40k) of the synthetic head: gsplat vs inria
   (diff-gaussian-rasterization) vs our torch tiles on the device, and our numba tiles on the CPU for
   reference; forward and forward+backward, median milliseconds, device-synchronised; the first call
   timed apart (gsplat compiles its kernels then); agreement of the images with the torch backend's.
2. A talker training step at the reference's batch (32 frames at --size): deformation + rasterisation
   (TalkingHead.render_batch), loss (L1 + D-SSIM + lip box), backward, Adam step; peak memory.
3. Render FPS of a TalkingHead at --size (head rasterised at full size, no upsampling), attention and
   lowrank deformation, batch 1 and 8, device-synchronised, no I/O.

A backend that is not installed, or that needs CUDA on a CPU run, is recorded as skipped with the reason;
an error in one measurement is recorded and the run goes on. Every measurement checks the time left
(--budget-s) first and is skipped, with the reason, when it would not fit. What the GPU machine lacks
(gsplat, the inria rasteriser, soundfile for gtalker.talker) comes as wheels: see "missing" in the JSON.
Scene and model are synthetic (gtalker.splat.synthetic), so the figures do not need a dataset.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gtalker.omp import set_default_waiting  # noqa: E402

set_default_waiting()  # as the pipeline's steps wait; before torch loads libgomp

import torch  # noqa: E402


from gtalker.common import write_json  # noqa: E402
from gtalker.splat.rasterize import rasterize  # noqa: E402
from gtalker.splat.synthetic import head_poses, head_scene  # noqa: E402

RASTER_BACKENDS = ("gsplat", "inria", "torch", "numba")
PACKAGES = ("gsplat", "diff-gaussian-rasterization", "gaussian-splatting", "numba", "scipy", "soundfile")


class Budget:
    """Seconds left of the run's budget; `fits(s)` says whether a measurement of ~s seconds still fits."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        return self.end - time.perf_counter()

    def fits(self, seconds: float) -> bool:
        return self.left() >= seconds


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeats: int, budget: Budget) -> dict[str, Any]:
    """First call (s, includes compilation) and median / min ms of up to `repeats` more calls, synced.

    Stops repeating early when the budget runs out (the number of timed calls is recorded)."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        if times and not budget.fits(2 * times[-1] / 1000.0 + 5.0):
            break
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"first_call_s": round(first, 3), "median_ms": round(statistics.median(times), 3) if times else None,
            "min_ms": round(min(times), 3) if times else None, "timed_calls": len(times)}


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def inria_importable() -> bool:
    return any(importlib.util.find_spec(m.split(".")[0]) is not None and _importable(m)
               for m in ("diff_gaussian_rasterization", "gaussian_splatting.diff_gaussian_rasterization"))


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:  # noqa: BLE001 - a broken build counts as missing
        return False


def skip_reason(backend: str, device: torch.device) -> str | None:
    """Why a rasteriser backend cannot be measured here, or None."""
    if backend == "gsplat":
        if device.type != "cuda":
            return "gsplat runs on CUDA only (run with --device cuda on a GPU machine)"
        if importlib.util.find_spec("gsplat") is None:
            return "gsplat not installed (pip install gsplat==1.5.3; it compiles its CUDA kernels on first use)"
    if backend == "inria":
        if device.type != "cuda":
            return "diff-gaussian-rasterization runs on CUDA only"
        if not inria_importable():
            return ("diff-gaussian-rasterization not importable (build it from the 3DGS repository, or pip "
                    "install gaussian-splatting, which ships GPU builds and needs torchvision)")
    if backend == "numba" and importlib.util.find_spec("numba") is None:
        return "numba not installed (pip install numba)"
    return None


def camera(size: int, view: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Intrinsics [3,3] and world->camera [4,4] of one of the synthetic head's poses."""
    R, t = head_poses(8, seed=0)
    V = torch.eye(4)
    V[:3, :3] = torch.from_numpy(R[view % 8])
    V[:3, 3] = torch.from_numpy(t[view % 8])
    f = 1.6 * size
    K = torch.tensor([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]])
    return K.to(device), V.to(device)


def rasterise_section(args: argparse.Namespace, device: torch.device, budget: Budget) -> dict[str, Any]:
    """Forward and forward+backward of every rasteriser backend at args.size with args.gaussians."""
    scene_cpu = {k: v.contiguous() for k, v in head_scene(args.gaussians, seed=0).items()}
    size = args.size
    out: dict[str, Any] = {"size": size, "n_gaussians": args.gaussians, "backends": {}}
    images: dict[str, torch.Tensor] = {}
    for backend in RASTER_BACKENDS:
        reason = skip_reason(backend, device)
        if reason is None and not budget.fits(args.min_section_s):
            reason = f"time budget: {budget.left():.0f} s left"
        if reason is not None:
            out["backends"][backend] = {"skipped": reason}
            continue
        dev = torch.device("cpu") if backend == "numba" else device
        scene = {k: v.to(dev) for k, v in scene_cpu.items()}
        K, V = camera(size, 2, dev)
        bg = torch.full((size, size, 3), 0.3, device=dev)
        repeats = args.cpu_repeats if dev.type == "cpu" else args.repeats

        def forward(backward: bool) -> torch.Tensor:
            p = {k: v.clone().requires_grad_(backward) for k, v in scene.items()}
            with torch.set_grad_enabled(backward):
                r = rasterize(p["means"], p["quats"], p["scales"], p["opacities"], p["colors"], K, V, size, size,
                              background=bg, backend=backend)
                if backward:
                    (r.color.sum() + 0.5 * r.alpha.sum() + 0.1 * r.depth.sum()).backward()
            return r.color

        fig: dict[str, Any] = {"device": str(dev)}
        try:
            images[backend] = forward(False).detach().float().cpu()
            fig["forward"] = timed(lambda: forward(False), dev, repeats, budget)
            fig["fwd_bwd"] = timed(lambda: forward(True), dev, repeats, budget)
            if fig["forward"]["median_ms"]:
                fig["fps_forward"] = round(1000.0 / fig["forward"]["median_ms"], 1)
        except Exception as err:  # noqa: BLE001 - record the failure, measure the others
            fig["error"] = f"{type(err).__name__}: {err}"
        if dev.type == "cpu":
            fig["cpu_threads"] = torch.get_num_threads()
        out["backends"][backend] = fig
    if "torch" in images:
        out["agreement_with_torch"] = {
            b: {"mean_abs_diff": float((img - images["torch"]).abs().mean()),
                "max_abs_diff": float((img - images["torch"]).abs().max())}
            for b, img in images.items() if b != "torch"}
    return out


def talker_model(n: int, size: int, mode: str, channels: int, device: torch.device):
    """A TalkingHead on the synthetic head (tri-plane canonical, SH degree 3) with an untrained deformation."""
    from gtalker.canonical.model import CanonicalHead
    from gtalker.talker.deform import DeformConfig
    from gtalker.talker.model import TalkingHead

    pts = head_scene(n, seed=0)
    head = CanonicalHead.from_points(pts["means"], pts["colors"], triplane=True)
    head.gaussians.active_sh_degree = 3
    model = TalkingHead(head, DeformConfig(mode=mode, audio_channels=channels), train_size=size)
    return model.to(device)


def talker_batch(batch: int, size: int, channels: int, device: torch.device, seed: int = 0) -> dict[str, Any]:
    """Conditions, cameras, backgrounds, targets and lip boxes of a batch (random audio and targets)."""
    from gtalker.talker.model import Conditions

    g = torch.Generator().manual_seed(seed)
    cams = [camera(size, b, torch.device("cpu")) for b in range(batch)]
    cond = Conditions(torch.randn(batch, 8, 16, channels, generator=g), torch.rand(batch, generator=g),
                      torch.stack([c[1] for c in cams])).to(device)
    lip = torch.tensor([[size // 3, size // 2, 2 * size // 3, 5 * size // 6]] * batch)
    return {"cond": cond, "K": torch.stack([c[0] for c in cams]).to(device),
            "background": torch.full((batch, size, size, 3), 0.3, device=device),
            "target": torch.rand(batch, size, size, 3, generator=g).to(device), "lip": lip}


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # process high-water mark (Linux: KiB)


def talker_section(args: argparse.Namespace, device: torch.device, budget: Budget) -> dict[str, Any]:
    """One training step of the deformation stage at the reference's batch: forward, loss, backward, Adam."""
    out: dict[str, Any] = {"batch": args.batch, "size": args.size, "n_gaussians": args.gaussians,
                           "backends": {}}
    try:
        from gtalker.splat.rasterize import resolve_backend
        from gtalker.talker.losses import talker_loss
    except ImportError as err:
        out["skipped"] = f"gtalker.talker cannot be imported ({err}); bring the missing package as a wheel"
        return out
    weights = {"l1": 0.8, "ssim": 0.2, "lip": 0.4}
    for backend in args.talker_backends:
        name = resolve_backend(backend, device)
        reason = skip_reason(name, device) or (None if budget.fits(args.min_section_s)
                                               else f"time budget: {budget.left():.0f} s left")
        if reason is not None:
            out["backends"][backend] = {"resolved": name, "skipped": reason}
            continue
        fig: dict[str, Any] = {"resolved": name}
        try:
            model = talker_model(args.gaussians, args.size, "attention", args.audio_channels, device)
            opt = torch.optim.Adam(model.deform.parameters(), lr=1e-4)
            data = talker_batch(args.batch, args.size, args.audio_channels, device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            phases: dict[str, list[float]] = {"forward": [], "loss": [], "backward": [], "optimiser": []}

            def step(record: bool) -> None:
                marks = [time.perf_counter()]

                def mark() -> None:
                    sync(device)
                    marks.append(time.perf_counter())

                pred, _ = model.render_batch(data["cond"], data["K"], args.size, args.size, data["background"],
                                             backend)
                mark()
                loss, _ = talker_loss(pred, data["target"], data["lip"], weights, None)
                mark()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                mark()
                opt.step()
                mark()
                if record:
                    for k, (a, b) in zip(phases, zip(marks, marks[1:])):
                        phases[k].append((b - a) * 1000.0)

            model.train()
            fig["step"] = timed(lambda: step(True), device, args.talker_repeats, budget)
            # the first call is the warm-up: leave its phases out
            fig["phases_median_ms"] = {k: round(statistics.median(v[1:]), 3) for k, v in phases.items() if v[1:]}
            fig["peak_memory_mb"] = round(peak_memory_mb(device), 1)
            if fig["step"]["median_ms"]:
                fig["frames_per_s"] = round(1000.0 * args.batch / fig["step"]["median_ms"], 1)
            del model, opt, data
        except Exception as err:  # noqa: BLE001
            fig["error"] = f"{type(err).__name__}: {err}"
        out["backends"][backend] = fig
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def render_section(args: argparse.Namespace, device: torch.device, budget: Budget) -> dict[str, Any]:
    """Frames per second of TalkingHead.render_batch at args.size (no gradients, no I/O)."""
    out: dict[str, Any] = {"size": args.size, "n_gaussians": args.gaussians, "backend": args.render_backend,
                           "frames": args.render_frames, "runs": {}}
    try:
        from gtalker.splat.rasterize import resolve_backend

        out["resolved"] = resolve_backend(args.render_backend, device)
        reason = skip_reason(out["resolved"], device)
    except ImportError as err:
        reason = f"gtalker.talker cannot be imported ({err})"
    if reason is not None:
        out["skipped"] = reason
        return out
    for mode in ("attention", "lowrank"):
        try:
            model = talker_model(args.gaussians, args.size, mode, args.audio_channels, device).eval()
            data = talker_batch(max(args.render_batches), args.size, args.audio_channels, device, seed=1)
        except Exception as err:  # noqa: BLE001
            out["runs"][mode] = {"error": f"{type(err).__name__}: {err}"}
            continue
        for b in args.render_batches:
            key = f"{mode}_batch{b}"
            if not budget.fits(args.min_section_s):
                out["runs"][key] = {"skipped": f"time budget: {budget.left():.0f} s left"}
                continue
            cond = type(data["cond"])(data["cond"].audio[:b], data["cond"].blink[:b], data["cond"].viewmat[:b])
            calls = max(1, args.render_frames // b)

            def frames() -> None:
                with torch.no_grad():
                    for _ in range(calls):
                        model.render_batch(cond, data["K"][:b], args.size, args.size, data["background"][:b],
                                           args.render_backend)

            try:
                t = timed(frames, device, 2, budget)
                ms = t["median_ms"] / (calls * b) if t["median_ms"] else None
                out["runs"][key] = {"batch": b, "frames_timed": calls * b, "ms_per_frame": round(ms, 3) if ms else None,
                                    "fps": round(1000.0 / ms, 1) if ms else None, "first_call_s": t["first_call_s"]}
            except Exception as err:  # noqa: BLE001
                out["runs"][key] = {"error": f"{type(err).__name__}: {err}"}
        del model
    return out


def machine(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "cuda": torch.version.cuda, "device": str(device), "cpu": platform.processor()
                            or platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "load_average": list(os.getloadavg()), "packages": package_versions()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(device_name=props.name, device_memory_gb=round(props.total_memory / 2 ** 30, 1),
                    capability=f"{props.major}.{props.minor}")
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="cuda, cpu or auto (cuda when available)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes (64 px, 2000 Gaussians, batch 2, few repeats): checks the script")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--gaussians", type=int, default=40000)
    p.add_argument("--batch", type=int, default=32, help="talker batch (the reference's)")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per rasteriser on the device")
    p.add_argument("--cpu-repeats", type=int, default=3, help="timed calls per rasteriser on the CPU")
    p.add_argument("--talker-repeats", type=int, default=5)
    p.add_argument("--talker-backends", nargs="+", default=["auto", "inria"],
                   help="rasteriser of the talker step ('auto' = gsplat on CUDA, numba on the CPU)")
    p.add_argument("--render-backend", default="auto")
    p.add_argument("--render-frames", type=int, default=64, help="frames per timed render call")
    p.add_argument("--render-batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--audio-channels", type=int, default=80)
    p.add_argument("--budget-s", type=float, default=540.0, help="stop starting measurements after this")
    p.add_argument("--min-section-s", type=float, default=20.0, help="time a measurement needs to be started")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.gaussians, args.batch = 64, 2000, 2
        args.repeats, args.cpu_repeats, args.talker_repeats = 2, 1, 1
        args.render_frames, args.render_batches, args.min_section_s = 2, [1, 2], 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda: CUDA is not available here; use --device cpu (with --quick)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    budget = Budget(args.budget_s)
    result: dict[str, Any] = {"machine": machine(device), "quick": args.quick, "budget_s": args.budget_s}
    result["missing"] = {name: "not installed" for name, v in result["machine"]["packages"].items() if v is None}
    for name, fn in (("rasterise", rasterise_section), ("talker_step", talker_section), ("render", render_section)):
        t0 = time.perf_counter()
        result[name] = fn(args, device, budget)
        result[name]["wall_s"] = round(time.perf_counter() - t0, 1)
        print(f"{name} ({result[name]['wall_s']} s): {result[name]}", flush=True)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    result["within_10_min"] = result["wall_s"] <= 600.0
    result["skipped"] = sorted(f"{section}.{name}" for section in ("rasterise", "talker_step")
                               for name, fig in result[section].get("backends", {}).items() if "skipped" in fig)
    result["errors"] = sorted(f"{section}.{name}" for section in ("rasterise", "talker_step")
                              for name, fig in result[section].get("backends", {}).items() if "error" in fig)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    write_json(args.out, result)
    print(f"wrote {args.out} after {result['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
