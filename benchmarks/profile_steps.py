"""Where the time goes: a canonical training step, a talker training step and a rendered frame, split.

    python benchmarks/profile_steps.py [--gaussians 18000] [--canonical-size 128] [--talker-size 128]
        [--render-size 512] [--batch 4] [--backends torch numba] [--repeats 3] [--out benchmarks/profile_steps.json]

Every backend of --backends is profiled in the same run, and the ratios of their step times written.

Each step is cut into stages whose inputs are detached leaves, so that every stage's forward and
backward are timed on their own (backward runs stage by stage in reverse, fed the upstream gradient):

- canonical: network (tri-plane + MLPs -> activated attributes), projection, SH evaluation,
  rasterisation, loss (L1 + SSIM); plus the optimiser step.
- talker: deformation (attention over audio/eye/view tokens, batch B), activation, projection, SH,
  rasterisation (one call per frame of the batch), loss (L1 + SSIM + lip box).
- render: one frame at --render-size without gradients: deformation, activation, projection, SH,
  rasterisation.
- data: reading and resizing one training item with gtalker.data.FrameDataset, when --dataset-dir
  names a prepared dataset (else not measured).

Scene: the synthetic head of gtalker.splat.synthetic (Gaussians on an ellipsoid) as a tri-plane
canonical head; the talker's audio is random. Median wall milliseconds over --repeats (after one warm-up).
On a shared machine the absolute figures are noisy; the shares within one run are the point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gtalker.omp import set_default_waiting  # noqa: E402

set_default_waiting()  # as the pipeline's steps wait; before torch loads libgomp

import torch  # noqa: E402


from gtalker.canonical.losses import photometric_loss  # noqa: E402
from gtalker.canonical.model import CanonicalHead  # noqa: E402
from gtalker.splat.geometry import camera_center, project  # noqa: E402
from gtalker.splat.rasterize import resolve_backend  # noqa: E402
from gtalker.splat.sh import eval_sh  # noqa: E402
from gtalker.splat.synthetic import head_poses, head_scene  # noqa: E402
from gtalker.talker.deform import DeformConfig  # noqa: E402
from gtalker.talker.losses import talker_loss  # noqa: E402
from gtalker.talker.model import Conditions, TalkingHead  # noqa: E402

Stage = tuple[str, Callable[[dict], dict]]


def raster_impl(backend: str):
    """The module whose render(proj, rgb, opacities, w, h) a CPU backend name stands for."""
    name = resolve_backend(backend, torch.device("cpu"))
    if name == "numba":
        from gtalker.splat.backends import numba_tiles as impl
    elif name == "torch":
        from gtalker.splat.backends import torch_tiles as impl
    else:
        raise SystemExit(f"profile: backend '{name}' is not a CPU tile backend")
    return impl


def leaves(values: dict, grad: bool) -> dict:
    """Detached copies of the tensors (requiring grad when `grad` and floating point); leaves stay."""
    out = {}
    for k, v in values.items():
        if torch.is_tensor(v) and not (v.is_leaf and v.requires_grad == grad):
            v = v.detach()
            if grad and v.is_floating_point():
                v.requires_grad_(True)
        out[k] = v
    return out


def run_stages(stages: list[Stage], inputs: dict, grad: bool, times: dict[str, list[float]]) -> None:
    """Run the stages forward (each on detached leaves), then backward in reverse; add the timings."""
    saved = []
    x = inputs
    for name, fn in stages:
        x_in = leaves(x, grad)
        t0 = time.perf_counter()
        y = fn(x_in)
        times[f"{name}.forward"].append((time.perf_counter() - t0) * 1000.0)
        saved.append((name, x_in, y))
        x = y
    if not grad:
        return
    grads: dict = {"loss": torch.ones(())}
    for name, x_in, y in reversed(saved):
        outs, gs = [], []
        for k, v in y.items():
            if torch.is_tensor(v) and v.requires_grad and k in grads and grads[k] is not None:
                outs.append(v)
                gs.append(grads[k])
        t0 = time.perf_counter()
        if outs:
            torch.autograd.backward(outs, gs)
        times[f"{name}.backward"].append((time.perf_counter() - t0) * 1000.0)
        grads = {k: (v.grad if torch.is_tensor(v) and v.requires_grad else None) for k, v in x_in.items()}


def camera(size: int, view: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    R, t = head_poses(8, seed=0)
    V = torch.eye(4)
    V[:3, :3] = torch.from_numpy(R[view]).float()
    V[:3, 3] = torch.from_numpy(t[view]).float()
    f = 1.6 * size
    return torch.tensor([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]]), V


def frame_stages(impl, K: torch.Tensor, V: torch.Tensor, size: int, sh_degree: int) -> list[Stage]:
    """Projection, SH evaluation and rasterisation (over a grey background) of one frame."""
    bg = torch.full((size, size, 3), 0.3)

    def projection(a: dict) -> dict:
        p = project(a["means"], a["quats"], a["scales"], a["opacities"], K, V, size, size)
        return {**a, "proj": p, "means2d": p.means2d, "conics": p.conics, "depths": p.depths}

    def sh(a: dict) -> dict:
        rgb = eval_sh(sh_degree, a["sh"][:, : (sh_degree + 1) ** 2], a["means"] - camera_center(V))
        return {**a, "rgb": rgb}

    def raster(a: dict) -> dict:
        p = a["proj"]
        p.means2d, p.conics, p.depths = a["means2d"], a["conics"], a["depths"]
        color, alpha, _ = impl.render(p, a["rgb"], a["opacities"], size, size)
        return {"image": color + (1 - alpha) * bg}

    return [("projection", projection), ("sh", sh), ("rasterise", raster)]


def profile_canonical(args, impl, times) -> dict:
    pts = head_scene(args.gaussians, seed=0)
    head = CanonicalHead.from_points(pts["means"], pts["colors"], triplane=True)
    head.gaussians.active_sh_degree = 3
    opt = torch.optim.Adam(head.parameters(), lr=1e-4)
    size = args.canonical_size
    K, V = camera(size)
    target = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(0))

    def loss(a: dict) -> dict:
        return {"loss": photometric_loss(a["image"], target, 0.2)}

    def step(record: bool) -> None:
        t = times if record else defaultdict(list)
        t0 = time.perf_counter()
        attrs = head.activate(head.raw_attributes())
        t["network.forward"].append((time.perf_counter() - t0) * 1000.0)
        stages = frame_stages(impl, K, V, size, 3) + [("loss", loss)]
        x = leaves(attrs, True)
        run_stages(stages, x, True, t)
        t0 = time.perf_counter()
        torch.autograd.backward([attrs[k] for k in x if x[k].grad is not None],
                                [x[k].grad for k in x if x[k].grad is not None])
        t["network.backward"].append((time.perf_counter() - t0) * 1000.0)
        t0 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t["optimiser"].append((time.perf_counter() - t0) * 1000.0)

    step(False)
    for _ in range(args.repeats):
        step(True)
    return {"size": size, "n_gaussians": head.gaussians.num}


def talker_model(args) -> TalkingHead:
    pts = head_scene(args.gaussians, seed=0)
    head = CanonicalHead.from_points(pts["means"], pts["colors"], triplane=True)
    head.gaussians.active_sh_degree = 3
    cfg = DeformConfig(audio_channels=args.audio_channels, mode=args.mode, rank=args.rank)
    return TalkingHead(head, cfg)


def conditions(batch: int, seed: int, channels: int) -> Conditions:
    g = torch.Generator().manual_seed(seed)
    views = torch.stack([camera(128, v % 8)[1] for v in range(batch)])
    return Conditions(torch.randn(batch, 8, 16, channels, generator=g), torch.rand(batch, generator=g), views)


def profile_talker(args, impl, times) -> dict:
    model = talker_model(args)
    opt = torch.optim.Adam(model.deform.parameters(), lr=1e-4)
    size, batch = args.talker_size, args.batch
    cond = conditions(batch, 0, args.audio_channels)
    K = camera(size)[0]
    target = torch.rand(batch, size, size, 3, generator=torch.Generator().manual_seed(1))
    lip = torch.tensor([[size // 3, size // 2, 2 * size // 3, 5 * size // 6]] * batch)
    weights = {"l1": 0.8, "ssim": 0.2, "lip": 0.4}

    def step(record: bool) -> None:
        t = times if record else defaultdict(list)
        raw, query = model.canonical_inputs()
        t0 = time.perf_counter()
        offsets, _ = model.deform(query, cond.audio, cond.blink, cond.viewmat)
        t["deformation.forward"].append((time.perf_counter() - t0) * 1000.0)
        off = leaves(offsets, True)
        images, grads_in = [], []
        for b in range(batch):
            t0 = time.perf_counter()
            moved = {k: (v + off[k][b] if k in off else v) for k, v in raw.items()}
            attrs = CanonicalHead.activate(moved)
            t["activation.forward"].append((time.perf_counter() - t0) * 1000.0)
            x = leaves(attrs, True)
            stages = frame_stages(impl, K, cond.viewmat[b], size, model.sh_degree)
            saved = []  # forward now; backward after the batch's loss
            y = x
            for name, fn in stages:
                y_in = leaves(y, True)
                t0 = time.perf_counter()
                y = fn(y_in)
                t[f"{name}.forward"].append((time.perf_counter() - t0) * 1000.0)
                saved.append((name, y_in, y))
            images.append(y["image"])
            grads_in.append((attrs, x, saved))
        img = torch.stack([i.detach() for i in images]).requires_grad_(True)
        t0 = time.perf_counter()
        loss, _ = talker_loss(img, target, lip, weights, None)
        t["loss.forward"].append((time.perf_counter() - t0) * 1000.0)
        t0 = time.perf_counter()
        loss.backward()
        t["loss.backward"].append((time.perf_counter() - t0) * 1000.0)
        for b, (attrs, x, saved) in enumerate(grads_in):
            grads = {"image": img.grad[b]}
            for name, y_in, y in reversed(saved):
                outs = [v for k, v in y.items() if torch.is_tensor(v) and v.requires_grad and grads.get(k) is not None]
                gs = [grads[k] for k, v in y.items() if torch.is_tensor(v) and v.requires_grad and grads.get(k) is not None]
                t0 = time.perf_counter()
                if outs:
                    torch.autograd.backward(outs, gs)
                t[f"{name}.backward"].append((time.perf_counter() - t0) * 1000.0)
                grads = {k: (v.grad if torch.is_tensor(v) and v.requires_grad else None) for k, v in y_in.items()}
            t0 = time.perf_counter()
            pairs = [(attrs[k], x[k].grad) for k in x if torch.is_tensor(x[k]) and x[k].grad is not None]
            torch.autograd.backward([p[0] for p in pairs], [p[1] for p in pairs])
            t["activation.backward"].append((time.perf_counter() - t0) * 1000.0)
        t0 = time.perf_counter()
        pairs = [(offsets[k], off[k].grad) for k in off if off[k].grad is not None]
        torch.autograd.backward([p[0] for p in pairs], [p[1] for p in pairs])
        t["deformation.backward"].append((time.perf_counter() - t0) * 1000.0)
        t0 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t["optimiser"].append((time.perf_counter() - t0) * 1000.0)

    step(False)
    for _ in range(args.repeats):
        step(True)
    return {"size": size, "batch": batch, "n_gaussians": model.n_gaussians}


def profile_render(args, impl, times) -> dict:
    model = talker_model(args)
    size = args.render_size
    K = camera(size)[0]
    cond = conditions(1, 2, args.audio_channels)

    def frame(record: bool) -> None:
        t = times if record else defaultdict(list)
        with torch.no_grad():
            raw, query = model.canonical_inputs()
            t0 = time.perf_counter()
            offsets, _ = model.deform(query, cond.audio, cond.blink, cond.viewmat)
            t["deformation.forward"].append((time.perf_counter() - t0) * 1000.0)
            t0 = time.perf_counter()
            attrs = CanonicalHead.activate({k: (v + offsets[k][0] if k in offsets else v) for k, v in raw.items()})
            t["activation.forward"].append((time.perf_counter() - t0) * 1000.0)
            run_stages(frame_stages(impl, K, cond.viewmat[0], size, model.sh_degree), attrs, False, t)

    frame(False)
    for _ in range(args.repeats):
        frame(True)
    return {"size": size, "n_gaussians": model.n_gaussians}


def profile_data(args, times) -> dict:
    if not args.dataset_dir:
        return {"measured": False, "note": "no --dataset-dir: data loading not measured"}
    from gtalker.data import FrameDataset, read_split

    split = read_split(Path(args.dataset_dir))
    ds = FrameDataset(args.dataset_dir, split["train"], args.talker_size)
    for i in range(args.repeats + 1):
        t0 = time.perf_counter()
        ds[i % len(ds)]
        if i:
            times["item"].append((time.perf_counter() - t0) * 1000.0)
    return {"measured": True, "size": args.talker_size}


def summarise(times: dict[str, list[float]], per_step: dict[str, int]) -> dict:
    """Median ms per call and per step (calls per step x median), and each stage's share of the step."""
    stages = {}
    for k, v in times.items():
        n = per_step.get(k.split(".")[0], 1)
        stages[k] = {"median_ms": round(statistics.median(v), 3), "per_step_ms": round(statistics.median(v) * n, 3)}
    total = sum(s["per_step_ms"] for s in stages.values())
    for s in stages.values():
        s["share"] = round(s["per_step_ms"] / total, 4) if total else 0.0
    return {"stages": stages, "total_ms": round(total, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gaussians", type=int, default=18000)
    p.add_argument("--canonical-size", type=int, default=128)
    p.add_argument("--talker-size", type=int, default=128)
    p.add_argument("--render-size", type=int, default=512)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--audio-channels", type=int, default=32)
    p.add_argument("--mode", default="attention", help="talker deformation: attention | lowrank")
    p.add_argument("--rank", type=int, default=8, help="lowrank: basis vectors per Gaussian")
    p.add_argument("--backends", nargs="+", default=["torch", "numba"],
                   help="CPU rasteriser backends to profile one after the other in this run (torch, numba)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dataset-dir", default=None, help="a prepared dataset, to time data loading")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                                "threads": torch.get_num_threads(), "load_average": list(os.getloadavg())},
                    "repeats": args.repeats, "backends": {}}
    for backend in args.backends:
        impl = raster_impl(backend)
        res: dict = {}
        for name, fn, per_step in (("canonical", profile_canonical, {}),
                                   ("talker", profile_talker, {k: args.batch for k in
                                                               ("activation", "projection", "sh", "rasterise")}),
                                   ("render", profile_render, {})):
            times: dict[str, list[float]] = defaultdict(list)
            t0 = time.perf_counter()
            info = fn(args, impl, times)
            res[name] = {**info, **summarise(times, per_step), "wall_s": round(time.perf_counter() - t0, 2)}
            print(f"[{backend}] {name} ({info}): {res[name]['total_ms']:.1f} ms per step")
            for k, st in sorted(res[name]["stages"].items(), key=lambda kv: -kv[1]["per_step_ms"]):
                print(f"  {k:24s} {st['per_step_ms']:9.1f} ms  {100 * st['share']:5.1f} %")
        result["backends"][backend] = res
    if len(args.backends) > 1:  # step time ratios of the first backend to each other one, same run
        first = args.backends[0]
        result["step_ratio"] = {f"{first}/{b}": {k: round(result["backends"][first][k]["total_ms"]
                                                         / result["backends"][b][k]["total_ms"], 2)
                                                 for k in ("canonical", "talker", "render")}
                                for b in args.backends[1:]}
        print(f"step time ratios: {result['step_ratio']}")
    dtimes: dict[str, list[float]] = defaultdict(list)
    info = profile_data(args, dtimes)
    result["data"] = {**info, **(summarise(dtimes, {}) if dtimes else {})}
    result["machine"]["load_average_end"] = list(os.getloadavg())
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
