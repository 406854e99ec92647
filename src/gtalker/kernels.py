"""CLI: compile the CPU kernels ahead of training (rule compile_kernels).

python -m gtalker.kernels --out results/_kernels/numba.json [--device auto]

The CPU rasteriser (splat.backends.numba_project, numba_tiles), the tri-plane lookup
(canonical.triplane_kernel) and the head's upsampling compositor (talker.upsample) are numba kernels whose
machine code numba caches on disk (beside their modules, or under NUMBA_CACHE_DIR). A fresh install
compiles them on first use: ~30 s of one core inside train_canonical. This step runs each of them once on a
tiny scene through the same entry points, with the argument types training and rendering pass, so that
the workflow compiles them on one core while the single-threaded face preprocessing runs on the other, and
training loads them from the cache. Skipped (and says so) on CUDA, where these kernels are not used.

librosa (the mel features) compiles its own numba functions into its cache on first use: ~20 s of one
core inside the first audio job. Where librosa is installed beside torch (the pip setup; with --sdm conda
it lives in the audio env only), this step computes mel features of a little noise too.
"""

from __future__ import annotations

from gtalker.omp import set_default_waiting

set_default_waiting()  # before torch loads libgomp; the environment wins

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gtalker.common import get_device, reports_input_errors, setup_logging, write_json  # noqa: E402

SIZE = 32       # image side of the warm-up scene (pixels)
GAUSSIANS = 64  # Gaussians in it


def kernels() -> dict[str, object]:
    """The compiled entry points by name (numba dispatchers: their .stats count cache hits and misses)."""
    from gtalker.canonical import triplane_kernel
    from gtalker.splat.backends import numba_project, numba_tiles
    from gtalker.talker import upsample

    return {f"{mod.__name__}.{name}": getattr(mod, name) for mod, names in (
        (numba_project, ("_forward", "_backward")),
        (numba_tiles, ("_bin", "_forward", "_backward", "_sum_pairs")),
        (triplane_kernel, ("_forward", "_backward_planes", "_backward_points")),
        (upsample, ("_upsample_composite",))) for name in names}


def run_once() -> None:
    """Render a tiny SH-coloured scene with gradients (projection, tiles, backward), look up a tri-plane
    with gradients, and upsample-composite a batch: every kernel of `kernels()` runs once."""
    from gtalker.canonical.triplane_kernel import lookup
    from gtalker.splat.rasterize import rasterize_batch
    from gtalker.talker.upsample import composite_upsampled

    gen = torch.Generator().manual_seed(0)
    n = GAUSSIANS
    means = torch.rand(n, 3, generator=gen) * 0.4 - 0.2 + torch.tensor([0.0, 0.0, 2.0])
    quats = torch.randn(n, 4, generator=gen)
    scales = torch.full((n, 3), 0.05)
    opacities = torch.full((n,), 0.5)
    sh = torch.rand(n, 16, 3, generator=gen) * 0.2
    leaves = [t.requires_grad_() for t in (means, quats, scales, opacities, sh)]
    K = torch.tensor([[2.0 * SIZE, 0.0, SIZE / 2], [0.0, 2.0 * SIZE, SIZE / 2], [0.0, 0.0, 1.0]])
    out = rasterize_batch(*leaves, K[None].repeat(2, 1, 1), torch.eye(4)[None].repeat(2, 1, 1), SIZE, SIZE,
                          background=torch.rand(3, generator=gen), sh_degree=3, backend="numba")
    (out.color.sum() + out.alpha.sum() + out.depth.sum()).backward()

    planes = torch.rand(3, 4, 8, 8, generator=gen).to(memory_format=torch.channels_last).requires_grad_()
    pts = (torch.rand(n, 3, generator=gen) * 2 - 1).requires_grad_()
    lookup(planes, pts).sum().backward()

    with torch.no_grad():
        composite_upsampled(out.color.detach(), out.alpha.detach(), 2 * SIZE, torch.rand(3, generator=gen))


def warm_librosa() -> float | None:
    """Seconds to compute mel features of 0.1 s of noise (librosa's numba functions, compiled where its
    cache lacks them, or loaded); None where librosa is not installed."""
    if importlib.util.find_spec("librosa") is None:
        return None
    from gtalker.audio.mel import MelConfig, mel_power

    start = time.perf_counter()
    mel_power(np.random.default_rng(0).standard_normal(1600).astype(np.float32), MelConfig())
    return round(time.perf_counter() - start, 2)


def warm_kernels() -> dict[str, Any]:
    """Run every kernel once (compiling what the cache lacks): per kernel whether it was compiled now or
    loaded from the cache, where the cache is, and the seconds it took."""
    start = time.perf_counter()
    torch.set_num_threads(1)
    run_once()
    found = kernels()
    status = {name: ("compiled" if sum(d.stats.cache_misses.values()) else
                     "loaded from cache" if sum(d.stats.cache_hits.values()) else "not run")
              for name, d in found.items()}
    caches = sorted({d.stats.cache_path for d in found.values()})
    return {"kernels": status, "cache": caches, "seconds": round(time.perf_counter() - start, 2)}


@reports_input_errors("gtalker.kernels")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gtalker.kernels", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="JSON report: each kernel compiled or loaded, the cache, seconds")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]: on CUDA our kernels are not used")
    args = p.parse_args(argv)
    log = setup_logging("gtalker.kernels")
    device = get_device(args.device)
    if device.type == "cpu":
        report = warm_kernels()
        compiled = sum(v == "compiled" for v in report["kernels"].values())
        log.info("%d of %d kernels compiled (the others loaded from the cache) in %.1f s; cache: %s", compiled,
                 len(report["kernels"]), report["seconds"], ", ".join(report["cache"]))
        missed = [k for k, v in report["kernels"].items() if v == "not run"]
        if missed:
            log.warning("the warm-up did not run %s: training compiles them", ", ".join(missed))
    else:
        report = {"skipped": f"device {device}: training uses a CUDA rasteriser"}
    report["librosa_seconds"] = warm_librosa()
    log.info("librosa's mel features: %s s", report["librosa_seconds"])
    write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
