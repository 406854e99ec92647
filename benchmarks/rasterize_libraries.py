"""CPU rasterisers side by side: our torch and numba tiles against existing differentiable splatting libraries.

One run, the same scene and cameras as benchmarks/rasterize.py (the synthetic head of
gtalker.splat.synthetic, 18k Gaussians, RGB colours: the one colour input every library here accepts,
and what that scene has), at 128/256/512 px on --threads threads:

- speed: median wall (and process CPU) ms of a forward and of a forward+backward, the backends
  alternating within each repeat (the order reversed on odd repeats; the first repeat warms up and
  compiles), and each backend's ratio to the torch tiles;
- exactness: max |diff| of colour and alpha against the torch tiles at every size and against the
  brute-force `reference` backend at the smallest size; for libraries whose support differs from ours
  (no per-pixel 3-sigma cut) also against the reference with that cut removed, which shows how much of
  the difference the convention explains; gradients of means, quats, scales, opacities and colours of
  the loss sum(w * colour) (w a fixed random [H,W,3] weight, black background) relative to the torch
  tiles' largest gradient;
- each library: version, installed size, what its distribution requires, the conventions it shares
  with ours or not (read from its source), and any failure (import, CPU not supported, crash) as a
  reason string, so that one library failing does not stop the run.

Backends:
- "torch", "numba": gtalker.splat.rasterize.rasterize (ours).
- "taichi_splatting": taichi_splatting.renderer.render_gaussians on Taichi's CPU arch (ti.cpu).
  Opacity enters as a logit and scales as logs (its parametrisation); the conversion is part of the
  autograd graph, so its gradients are with respect to our opacities and scales.
- "gswarp": gswarp's 3DGS rasteriser (diff_gaussian_rasterization API) on Warp's "cpu" device. Its
  public entry refuses CPU tensors ("means3D must be a CUDA tensor"); the benchmark then calls the
  autograd function behind it (gswarp._internal.frontend.standard_autograd), skipping only that check,
  with Warp's experimental cooperative CPU blocks on (wp.config.enable_cpu_blocks; without them its
  tiled render kernel, written for 256-thread CUDA blocks, runs one thread per block and renders wrong
  images). Both facts are recorded in the JSON.

The libraries are evaluated, not project dependencies: install them into a separate virtual
environment that also sees the project's (torch 2.13, numba) and run with it:

    python3.11 -m venv /work/scratch/libeval/venv
    echo /work/main/.venv/lib/python3.11/site-packages > \\
        /work/scratch/libeval/venv/lib/python3.11/site-packages/main.pth
    /work/scratch/libeval/venv/bin/pip install --no-deps taichi taichi_splatting gswarp warp-lang \\
        beartype tensordict pyvers colorama dill
    PYTHONPATH=$PWD/src /work/scratch/libeval/venv/bin/python benchmarks/rasterize_libraries.py \\
        [--sizes 128 256 512] [--gaussians 18000] [--repeats 3] [--out benchmarks/rasterize_libraries.json]

Figures go to stdout and JSON (a top-level "table" for docs/measurements.md, then the details).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Idle OpenMP threads sleep rather than spin (as benchmarks/rasterize.py); set before torch.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gtalker.omp import set_default_waiting  # noqa: E402

set_default_waiting()  # as the pipeline's steps wait; before torch loads libgomp

import torch  # noqa: E402
from torch import Tensor  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rasterize import camera, scene_tensors  # noqa: E402  (benchmarks/rasterize.py: one scene, one camera)

from gtalker.splat import geometry  # noqa: E402
from gtalker.splat.backends import common as splat_common  # noqa: E402
from gtalker.splat.rasterize import rasterize  # noqa: E402

NEAR, FAR = 0.01, 100.0
FIELDS = ("color", "alpha")
PARAMS = ("means", "quats", "scales", "opacities", "colors")

# Render function: leaves (dict of PARAMS), K [3,3], viewmat [4,4], size -> colour [H,W,3] over black, alpha [H,W,1].
RenderFn = Callable[[dict[str, Tensor], Tensor, Tensor, int], tuple[Tensor, Tensor]]


@dataclass
class Backend:
    """One rasteriser under test: how to call it, and what we know about it."""

    name: str
    render: RenderFn | None = None
    reason: str | None = None                       # why it cannot run here (None = it runs)
    distributions: tuple[str, ...] = ()             # its own distribution and the non-torch ones it needs
    conventions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    setup_s: float = 0.0                             # import + first (compiling) call
    version: str = ""
    table_note: str = ""                             # one line for the table's rows
    dist_info: dict[str, dict[str, Any]] = field(default_factory=dict)


# ---------------------------------------------------------------- ours

def ours(backend: str) -> RenderFn:
    def render(p: dict[str, Tensor], K: Tensor, V: Tensor, size: int) -> tuple[Tensor, Tensor]:
        out = rasterize(p["means"], p["quats"], p["scales"], p["opacities"], p["colors"], K, V, size, size,
                        background=None, backend=backend, near=NEAR)
        return out.color, out.alpha
    return render


OUR_CONVENTIONS = {
    "dilation": "0.3 px^2 added to the 2D covariance",
    "alpha": "skip alpha < 1/255, clamp at 0.99",
    "stop": "a Gaussian is used while T (1 - alpha) >= 1e-4",
    "pixel_centre": "pixel (row i, column j) at (j, i) in K's pixel coordinates",
    "support": "per pixel: Mahalanobis distance <= 3 (3-sigma ellipse)",
    "jacobian": "x/z, y/z clamped to 1.3x the field of view",
    "colour": "RGB given per Gaussian (SH evaluated outside the kernel)",
}


# ---------------------------------------------------------------- taichi-splatting

def taichi_cuda_lib_stand_in() -> types.ModuleType:
    """torch CPU versions of the three functions of taichi_splatting.cuda_lib (a CUDA extension compiled
    at import): a cumulative sum with a leading 0, a stable key sort carrying values along."""
    mod = types.ModuleType("taichi_splatting.cuda_lib")

    def full_cumsum(x: Tensor) -> tuple[Tensor, int]:
        out = torch.zeros(x.shape[0] + 1, dtype=x.dtype, device=x.device)
        out[1:] = torch.cumsum(x, 0)
        return out, int(out[-1])

    def radix_sort_pairs(keys: Tensor, values: Tensor, start_bit: int = 0, end_bit: int | None = None,
                         unsigned: bool = False) -> tuple[Tensor, Tensor]:
        sorted_keys, order = torch.sort(keys, stable=True)  # keys are non-negative here: signed order = unsigned
        return sorted_keys, values[order]

    def segmented_sort_pairs(*_args: Any) -> None:
        raise NotImplementedError("segmented_sort_pairs has no CPU stand-in (unused by render_gaussians)")

    mod.full_cumsum, mod.radix_sort_pairs = full_cumsum, radix_sort_pairs
    mod.segmented_sort_pairs = segmented_sort_pairs
    return mod


def forget_modules(prefix: str) -> None:
    for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[name]


def setup_taichi_splatting(threads: int) -> Backend:
    b = Backend("taichi_splatting", distributions=("taichi_splatting", "taichi", "tensordict", "beartype"),
                conventions={
                    "dilation": "same (CameraParams.blur_cov = 0.3)",
                    "alpha": "same (RasterConfig alpha_threshold 1/255, clamp_max_alpha 0.99)",
                    "stop": "same (saturate_threshold 0.9999: stops before T < 1e-4)",
                    "pixel_centre": "differs: pixel centre at +0.5; matched by adding 0.5 to cx, cy",
                    "support": "differs: 3-sigma only for tile culling (gaussian_scale 3); per pixel only "
                               "alpha >= 1/255; no option",
                    "jacobian": "differs: no field-of-view clamp (no effect when all Gaussians are in view)",
                    "colour": "RGB features (use_sh=False) or SH in its own layout; RGB used",
                })
    t0 = time.perf_counter()
    try:
        import taichi as ti

        ti.init(arch=ti.cpu, cpu_max_num_threads=threads, log_level=ti.WARN, offline_cache=True)
    except Exception as err:  # noqa: BLE001 - record any failure and go on
        b.reason = f"taichi on the CPU: {type(err).__name__}: {err}"
        return b
    try:
        importlib.import_module("taichi_splatting.renderer")
    except BaseException as err:  # noqa: BLE001 - torch's extension loader may raise SystemExit-like errors
        b.notes.append(f"plain import fails: {type(err).__name__}: {str(err).strip()[:300]} "
                       "(taichi_splatting.cuda_lib compiles CUDA sources with torch.utils.cpp_extension at "
                       "import; the tile mapper sorts with it)")
        forget_modules("taichi_splatting")
        sys.modules["taichi_splatting.cuda_lib"] = taichi_cuda_lib_stand_in()
        b.notes.append("retried with a torch CPU stand-in for cuda_lib (cumsum, stable sort)")
    try:
        from taichi_splatting.data_types import Gaussians3D, RasterConfig
        from taichi_splatting.perspective import CameraParams
        from taichi_splatting.renderer import render_gaussians
    except BaseException as err:  # noqa: BLE001
        b.reason = f"import: {type(err).__name__}: {str(err).strip()[:300]}"
        return b
    config = RasterConfig()

    def render(p: dict[str, Tensor], K: Tensor, V: Tensor, size: int) -> tuple[Tensor, Tensor]:
        n = p["means"].shape[0]
        g = Gaussians3D(position=p["means"], log_scaling=torch.log(p["scales"]), rotation=p["quats"],
                        alpha_logit=torch.logit(p["opacities"])[:, None], feature=p["colors"], batch_size=(n,))
        k = K.clone()
        k[0, 2] += 0.5
        k[1, 2] += 0.5
        cam = CameraParams(T_image_camera=k, T_camera_world=V, near_plane=NEAR, far_plane=FAR,
                           image_size=(size, size), blur_cov=geometry.EPS_2D)
        out = render_gaussians(g, cam, config, use_sh=False)
        return out.image, out.image_weight.reshape(size, size, 1)

    try:  # the first call compiles the kernels; a failure here means the library cannot render on the CPU
        probe = scene_tensors(64, None, torch.device("cpu"))
        K, V = camera(32, torch.device("cpu"))
        render(probe, K, V, 32)
    except BaseException as err:  # noqa: BLE001
        b.reason = ("render on Taichi's CPU arch: " + f"{type(err).__name__}: " + last_line(err)
                    + " (its rasteriser kernels use ti.simt.block shared memory and sync, GPU-only in Taichi)")
        return b
    b.render, b.setup_s = render, time.perf_counter() - t0
    return b


# ---------------------------------------------------------------- gswarp

def setup_gswarp() -> Backend:
    b = Backend("gswarp", distributions=("gswarp", "warp-lang"),
                conventions={
                    "dilation": "same (3DGS: 0.3 px^2)",
                    "alpha": "same (3DGS: skip < 1/255, clamp 0.99)",
                    "stop": "same (3DGS: stops before T < 1e-4)",
                    "pixel_centre": "same (3DGS: integer pixel coordinates; principal point at the image "
                                    "centre, our camera's (size-1)/2)",
                    "support": "differs: 3-sigma radius only for tile binning; per pixel only alpha >= 1/255; "
                               "no option",
                    "jacobian": "nearly same (3DGS: 1.3 tan(fov/2) about the centre; ours 0.5 px wider; no "
                                "effect when all Gaussians are in view)",
                    "near": "differs: 3DGS culls camera z <= 0.2 (the head is at ~0.6)",
                    "colour": "colors_precomp RGB or SH (3DGS layout); RGB used",
                })
    t0 = time.perf_counter()
    try:
        import warp as wp

        wp.config.quiet = True
        wp.init()
        import gswarp
        from gswarp._internal.frontend import common, standard_autograd
        from gswarp.methods.baseline_3dgs import METHOD
        from gswarp.rasterizer import GaussianRasterizationSettings, GaussianRasterizer
    except BaseException as err:  # noqa: BLE001
        b.reason = f"import: {type(err).__name__}: {str(err).strip()[:300]}"
        return b
    b.notes.append(f"warp devices: {[str(d) for d in wp.get_devices()]}")
    empty = torch.Tensor([])

    def settings(K: Tensor, V: Tensor, size: int) -> Any:
        fx, fy = float(K[0, 0]), float(K[1, 1])
        tan_x, tan_y = size / (2 * fx), size / (2 * fy)
        P = torch.zeros(4, 4)  # 3DGS's projection (principal point at the centre), row-vector convention below
        P[0, 0], P[1, 1], P[3, 2] = 1 / tan_x, 1 / tan_y, 1.0
        P[2, 2], P[2, 3] = FAR / (FAR - NEAR), -FAR * NEAR / (FAR - NEAR)
        return GaussianRasterizationSettings(
            image_height=size, image_width=size, tanfovx=tan_x, tanfovy=tan_y, bg=torch.zeros(3),
            scale_modifier=1.0, viewmatrix=V.t().contiguous(), projmatrix=(P @ V).t().contiguous(), sh_degree=0,
            campos=geometry.camera_center(V).contiguous(), prefiltered=False, debug=False, auto_tune=False,
            auto_tune_verbose=False)

    def public(p: dict[str, Tensor], K: Tensor, V: Tensor, size: int) -> Any:
        m2 = torch.zeros(p["means"].shape[0], 3)
        return GaussianRasterizer(settings(K, V, size))(
            means3D=p["means"], means2D=m2, opacities=p["opacities"][:, None], colors_precomp=p["colors"],
            scales=p["scales"], rotations=p["quats"])

    plan = common.plan_for(METHOD)

    def render(p: dict[str, Tensor], K: Tensor, V: Tensor, size: int) -> tuple[Tensor, Tensor]:
        m2 = torch.zeros(p["means"].shape[0], 3)
        out = standard_autograd.rasterize_gaussians(plan, p["means"], m2, empty, p["colors"], p["opacities"][:, None],
                                                    p["scales"], p["quats"], empty, settings(K, V, size))
        return out[0].permute(1, 2, 0), out[3].reshape(size, size, 1)

    probe = scene_tensors(64, None, torch.device("cpu"))
    K, V = camera(32, torch.device("cpu"))
    try:
        public(probe, K, V, 32)
        b.notes.append("public API accepts CPU tensors")
    except BaseException as err:  # noqa: BLE001
        b.notes.append(f"public API on CPU tensors: {type(err).__name__}: {last_line(err)}; benchmarked through "
                       "gswarp._internal.frontend.standard_autograd (the same autograd function, without that check)")
    if hasattr(wp.config, "enable_cpu_blocks"):
        wp.config.enable_cpu_blocks = True
        b.notes.append("wp.config.enable_cpu_blocks = True (experimental cooperative CPU blocks, needed by its "
                       "256-thread tiled render kernel)")
    else:
        b.notes.append("this warp has no enable_cpu_blocks: tiled kernels run one thread per block on the CPU")
    b.notes.append(f"backward mode {gswarp.get_backward_mode()}, binning sort {gswarp.get_binning_sort_mode()}")
    try:
        q = {k: v.clone().requires_grad_(True) for k, v in probe.items()}
        color, alpha = render(q, K, V, 32)
        color.sum().backward()
    except BaseException as err:  # noqa: BLE001
        b.reason = f"render on Warp's cpu device: {type(err).__name__}: {last_line(err)}"
        return b
    b.render, b.setup_s = render, time.perf_counter() - t0
    b.table_note = ("CPU only through its internal autograd function and Warp's experimental CPU blocks; "
                    "support and quaternion-gradient conventions of 3DGS (see conventions)")
    return b


# ---------------------------------------------------------------- measuring

def last_line(err: BaseException) -> str:
    lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else repr(err))[:300]


def distribution_info(names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Version, installed MB and declared requirements of each distribution (None when not installed)."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = {"installed": False}
            continue
        size = 0
        for f in dist.files or []:
            path = Path(dist.locate_file(f))
            if path.is_file():
                size += path.stat().st_size
        out[name] = {"installed": True, "version": dist.version, "installed_mb": round(size / 2 ** 20, 1),
                     "requires": [r for r in (dist.requires or []) if "extra ==" not in r]}
    return out


@contextlib.contextmanager
def without_3sigma_cut() -> Iterator[None]:
    """Our reference with support = alpha >= 1/255 only (3DGS's per-pixel rule), for attributing differences."""
    saved = geometry.SIGMA_CUTOFF, splat_common.SIGMA_CUTOFF
    geometry.SIGMA_CUTOFF = splat_common.SIGMA_CUTOFF = 1e3
    try:
        yield
    finally:
        geometry.SIGMA_CUTOFF, splat_common.SIGMA_CUTOFF = saved


def leaves(scene: dict[str, Tensor], grad: bool) -> dict[str, Tensor]:
    return {k: v.clone().requires_grad_(grad) for k, v in scene.items()}


def step(b: Backend, scene: dict[str, Tensor], K: Tensor, V: Tensor, size: int, weight: Tensor,
         backward: bool) -> tuple[float, float, dict[str, Tensor]]:
    """Wall and process-CPU ms of one render (+ backward of sum(weight * colour)) and its leaves."""
    assert b.render is not None
    p = leaves(scene, backward)
    t0, c0 = time.perf_counter(), time.process_time()
    color, _ = b.render(p, K, V, size)
    if backward:
        (weight * color).sum().backward()
    return (time.perf_counter() - t0) * 1000.0, (time.process_time() - c0) * 1000.0, p


def rel_diff(g: Tensor, g_ref: Tensor) -> float:
    """max |g - g_ref| relative to max |g_ref|."""
    return float((g.reshape(g_ref.shape) - g_ref).abs().max() / g_ref.abs().max().clamp_min(1e-12))


def tangential(g: Tensor, quats: Tensor) -> Tensor:
    """The part of quaternion gradients [N,4] orthogonal to the (normalised) quaternions."""
    q = quats / quats.norm(dim=1, keepdim=True)
    g = g.reshape(q.shape)
    return g - (g * q).sum(dim=1, keepdim=True) * q


def max_diff(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> dict[str, float]:
    return {f: float((x.detach() - y.detach()).abs().max()) for f, x, y in zip(FIELDS, a, b)}


def measure_size(backends: list[Backend], scene: dict[str, Tensor], size: int, repeats: int,
                 with_reference: bool) -> dict[str, Any]:
    K, V = camera(size, torch.device("cpu"))
    weight = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(size))
    fig: dict[str, Any] = {}
    images: dict[str, tuple[Tensor, Tensor]] = {}
    for b in backends:
        try:
            with torch.no_grad():
                images[b.name] = b.render(leaves(scene, False), K, V, size)
        except BaseException as err:  # noqa: BLE001 - a crash at this size: record it, leave the backend out
            fig[b.name] = {"error": f"{type(err).__name__}: {last_line(err)}"}
    run = [b for b in backends if b.name in images]
    for b in run:
        fig[b.name] = {"max_abs_diff_vs_torch": max_diff(images[b.name], images["torch"])}
    if with_reference:
        with torch.no_grad():
            ref = ours("reference")(leaves(scene, False), K, V, size)
            with without_3sigma_cut():
                ref_wide = ours("reference")(leaves(scene, False), K, V, size)
        for b in run:
            fig[b.name]["max_abs_diff_vs_reference"] = max_diff(images[b.name], ref)
            if b.name not in ("torch", "numba"):
                fig[b.name]["max_abs_diff_vs_reference_without_3sigma_cut"] = max_diff(images[b.name], ref_wide)
    wall: dict[tuple[str, str], list[float]] = {(b.name, m): [] for b in run for m in ("forward", "fwd_bwd")}
    cpu: dict[tuple[str, str], list[float]] = {k: [] for k in wall}
    grads: dict[str, dict[str, Tensor]] = {}
    for r in range(repeats + 1):
        for b in (run if r % 2 == 0 else run[::-1]):
            if "error" in fig[b.name]:
                continue
            try:
                for mode, backward in (("forward", False), ("fwd_bwd", True)):
                    w, c, p = step(b, scene, K, V, size, weight, backward)
                    if r > 0:  # the first repeat warms up
                        wall[(b.name, mode)].append(w)
                        cpu[(b.name, mode)].append(c)
                    if backward:
                        grads[b.name] = {k: v.grad if v.grad is not None else torch.zeros_like(v)
                                         for k, v in p.items()}
            except BaseException as err:  # noqa: BLE001
                fig[b.name]["error"] = f"{type(err).__name__}: {last_line(err)}"
    for b in run:
        f = fig[b.name]
        if "error" in f or not wall[(b.name, "fwd_bwd")]:
            continue
        for mode in ("forward", "fwd_bwd"):
            f[f"{mode}_ms"] = round(statistics.median(wall[(b.name, mode)]), 2)
            f[f"{mode}_cpu_ms"] = round(statistics.median(cpu[(b.name, mode)]), 2)
        f["max_grad_diff_rel_vs_torch"] = {k: rel_diff(grads[b.name][k], grads["torch"][k]) for k in PARAMS}
        # 3DGS-style backwards return the quaternion gradient without the normalisation's Jacobian; for our
        # unit quaternions that differs only by a component along q, so compare the tangential parts too.
        f["max_grad_diff_rel_vs_torch_quats_tangential"] = rel_diff(
            tangential(grads[b.name]["quats"], scene["quats"]), tangential(grads["torch"]["quats"], scene["quats"]))
        f["grads_finite"] = all(bool(torch.isfinite(g).all()) for g in grads[b.name].values())
    t = fig["torch"]
    for b in run:
        f = fig[b.name]
        if "fwd_bwd_ms" in f:
            f["forward_ratio_vs_torch"] = round(f["forward_ms"] / t["forward_ms"], 3)
            f["fwd_bwd_ratio_vs_torch"] = round(f["fwd_bwd_ms"] / t["fwd_bwd_ms"], 3)
    return fig


def grad_figure(f: dict[str, Any]) -> float:
    """Largest relative gradient difference, the quaternions' taken orthogonal to q (the raw one is in the JSON)."""
    rel = dict(f["max_grad_diff_rel_vs_torch"], quats=f["max_grad_diff_rel_vs_torch_quats_tangential"])
    return max(rel.values())


def exact(f: dict[str, Any], size_is_smallest: bool) -> bool | None:
    """<= 1e-5 image difference (against the reference at the smallest size, else torch) and <= 1e-4
    relative gradient difference; None when not measured."""
    if "max_grad_diff_rel_vs_torch" not in f:
        return None
    img = f["max_abs_diff_vs_reference"] if size_is_smallest else f["max_abs_diff_vs_torch"]
    return max(img.values()) <= 1e-5 and max(f["max_grad_diff_rel_vs_torch"].values()) <= 1e-4


def table(backends: list[Backend], sizes: dict[str, Any], smallest: str) -> dict[str, Any]:
    cols = ["backend", "version", "installed MB (with non-torch deps)", "size px", "forward ms", "fwd+bwd ms",
            "forward / torch", "fwd+bwd / torch", "CPU / wall (threads used)",
            "max |diff| vs reference (smallest size) or torch",
            "max rel grad diff vs torch (quats: part orthogonal to q)", "exact", "note"]
    rows: list[list[Any]] = []
    for b in backends:
        version = b.version
        mb = round(sum(d.get("installed_mb", 0.0) for d in b.dist_info.values()), 1)
        if b.reason:
            rows.append([b.name, version, mb, "-"] + [None] * 8 + [b.reason[:200]])
            continue
        for size, fig in sizes.items():
            f = fig.get(b.name, {})
            if "error" in f or "fwd_bwd_ms" not in f:
                rows.append([b.name, version, mb, int(size)] + [None] * 8 + [f.get("error", "not measured")[:200]])
                continue
            img = f["max_abs_diff_vs_reference"] if size == smallest else f["max_abs_diff_vs_torch"]
            rows.append([b.name, version, mb, int(size), f["forward_ms"], f["fwd_bwd_ms"], f["forward_ratio_vs_torch"],
                         f["fwd_bwd_ratio_vs_torch"], round(f["fwd_bwd_cpu_ms"] / f["fwd_bwd_ms"], 2),
                         max(img.values()), grad_figure(f), exact(f, size == smallest),
                         b.table_note])
    return {"columns": cols, "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--gaussians", type=int, default=18000, help="the default model's count")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", nargs="*", default=None, help="libraries to try (default: all)")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    t_start, load_start = time.perf_counter(), list(os.getloadavg())
    scene = scene_tensors(args.gaussians, None, torch.device("cpu"))
    backends = [Backend("torch", ours("torch"), distributions=("torch",), conventions=OUR_CONVENTIONS,
                        table_note="ours, pure torch (the ratios' base)"),
                Backend("numba", ours("numba"), distributions=("numba", "llvmlite"), conventions=OUR_CONVENTIONS,
                        table_note="ours, numba kernels")]
    setups = {"taichi_splatting": lambda: setup_taichi_splatting(args.threads), "gswarp": setup_gswarp}
    for name, setup in setups.items():
        if args.only is not None and name not in args.only:
            continue
        try:
            backends.append(setup())
        except BaseException as err:  # noqa: BLE001 - never let one library stop the run
            backends.append(Backend(name, reason=f"setup crashed: {type(err).__name__}: {last_line(err)}",
                                    notes=[traceback.format_exc()[-600:]]))
    for b in backends:
        b.dist_info = distribution_info(b.distributions)
        b.version = b.dist_info.get(b.distributions[0], {}).get("version", "") if b.distributions else ""
    runnable = [b for b in backends if b.render is not None and not b.reason]
    smallest = str(min(args.sizes))
    sizes: dict[str, Any] = {}
    for size in args.sizes:
        print(f"{size} px ...", flush=True)
        sizes[str(size)] = measure_size(runnable, scene, size, args.repeats, str(size) == smallest)
    result: dict[str, Any] = {
        "table": table(backends, sizes, smallest),
        "scene": {"n_gaussians": int(scene["means"].shape[0]), "colours": "RGB [N,3] (the synthetic head's)",
                  "loss": "sum(w * colour), w fixed random [H,W,3], black background", "threads": args.threads,
                  "repeats": args.repeats, "torch": torch.__version__, "python": platform.python_version(),
                  "machine": platform.machine(), "load_average_start": load_start},
        "libraries": {b.name: {"runs": not b.reason, "reason": b.reason, "setup_s": round(b.setup_s, 2),
                               "distributions": b.dist_info, "conventions": b.conventions,
                               "notes": b.notes} for b in backends},
        "sizes": sizes,
    }
    result["scene"]["load_average_end"] = list(os.getloadavg())
    result["scene"]["total_s"] = round(time.perf_counter() - t_start, 1)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['scene']['n_gaussians']} Gaussians, RGB, {args.threads} threads, median of {args.repeats}:")
    for b in backends:
        d = b.dist_info.get(b.distributions[0], {}) if b.distributions else {}
        print(f"  {b.name}: {d.get('version', '?')}, {d.get('installed_mb', '?')} MB, requires {d.get('requires')}"
              + (f"; CANNOT RUN: {b.reason}" if b.reason else f"; setup {b.setup_s:.1f} s"))
        for n in b.notes:
            print(f"      note: {n}")
    for row in result["table"]["rows"]:
        print("  " + " | ".join("-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in row))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
