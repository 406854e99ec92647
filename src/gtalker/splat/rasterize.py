"""One functional entry point to every Gaussian rasteriser (like gsplat's `rasterization`).

    out = rasterize(means, quats, scales, opacities, colors, K, viewmat, width, height,
                    background=bg, sh_degree=3, backend="auto")

means [N,3] world; quats [N,4] (w,x,y,z), normalised inside; scales [N,3] linear; opacities [N] in
[0,1]; colors [N,3] RGB, or SH coefficients [N,K,3] (K >= (d+1)^2) when sh_degree=d is given (view
direction = normalised(mean - camera centre), colour = SH + 0.5 clamped >= 0, as 3DGS); K [3,3] in
pixels with pixel (row i, column j) centred at (j, i); viewmat [4,4] world->camera, OpenCV axes;
background [H,W,3] or [3] in [0,1] (None = black).

Backends: "torch" (tile-based, pure PyTorch, CPU/GPU; the readable one), "numba" (the same tiles and
maths compiled for the CPU, backward as a numba kernel), "reference" (brute force, for tests), "gsplat"
and "inria" (CUDA libraries, when installed), "auto" (gsplat on CUDA when importable; on the CPU numba
when importable, else torch). numba is the CPU default because it is exact (<= 1e-5 against the reference,
gradients equal to torch autograd; tests/test_splat_rasterize.py) and several times faster than the torch
tiles in benchmarks/rasterize.py (torch vs numba in one run).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch
from torch import Tensor

from gtalker.splat.geometry import Projection, camera_center, project
from gtalker.splat.sh import eval_sh

BACKENDS = ("auto", "torch", "numba", "reference", "gsplat", "inria")


@dataclass
class RenderOutput:
    """What a rasteriser returns for one camera."""

    color: Tensor    # [H,W,3] in [0,1], composited over the background
    alpha: Tensor    # [H,W,1] accumulated opacity
    depth: Tensor    # [H,W,1] alpha-weighted camera-space z (0 where alpha = 0)
    means2d: Tensor  # [N,2] projected centres; its .grad after backward drives densification
    radii: Tensor    # [N] int pixel radius, 0 = culled


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend for a name: 'auto' = gsplat on CUDA when importable, numba on the CPU when
    importable, else torch."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown rasteriser backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if device.type == "cuda" and importlib.util.find_spec("gsplat") is not None:
        return "gsplat"
    if device.type == "cpu" and importlib.util.find_spec("numba") is not None:
        return "numba"
    return "torch"


def _check_inputs(means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, colors: Tensor,
                  K: Tensor, viewmat: Tensor, sh_degree: int | None) -> None:
    n = means.shape[0]
    if means.shape != (n, 3) or quats.shape != (n, 4) or scales.shape != (n, 3) or opacities.shape != (n,):
        raise ValueError("rasterize: expected means [N,3], quats [N,4], scales [N,3], opacities [N]; got "
                         f"{tuple(means.shape)}, {tuple(quats.shape)}, {tuple(scales.shape)}, "
                         f"{tuple(opacities.shape)}")
    want = (n, 3) if sh_degree is None else None
    if want is not None and colors.shape != want:
        raise ValueError(f"rasterize: colors must be [N,3] RGB without sh_degree, got {tuple(colors.shape)}")
    if sh_degree is not None and (colors.ndim != 3 or colors.shape[0] != n or colors.shape[2] != 3
                                  or colors.shape[1] < (sh_degree + 1) ** 2):
        raise ValueError(f"rasterize: sh_degree={sh_degree} needs colors [N,>={(sh_degree + 1) ** 2},3], "
                         f"got {tuple(colors.shape)}")
    if K.shape != (3, 3) or viewmat.shape != (4, 4):
        raise ValueError(f"rasterize: K must be [3,3] and viewmat [4,4], got {tuple(K.shape)}, {tuple(viewmat.shape)}")


def _background(background: Tensor | None, like: Tensor, width: int, height: int) -> Tensor | None:
    if background is None:
        return None
    bg = background.to(device=like.device, dtype=like.dtype)
    if bg.shape == (3,):
        return bg.view(1, 1, 3)
    if bg.shape != (height, width, 3):
        raise ValueError(f"rasterize: background must be [3] or [{height},{width},3], got {tuple(bg.shape)}")
    return bg


def _project_shade(name: str, means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, colors: Tensor,
                   sh_degree: int | None, K: Tensor, viewmat: Tensor, width: int, height: int, near: float
                   ) -> tuple[Projection, Tensor]:
    """Screen-space Gaussians and their RGB: for numba with SH on float32 CPU tensors one compiled pass
    (backends.numba_project), else geometry.project and sh.eval_sh (the same maths)."""
    if name == "numba" and sh_degree is not None and means.dtype == torch.float32 and means.device.type == "cpu":
        from gtalker.splat.backends import numba_project

        return numba_project.project_shade(means, quats, scales, opacities, colors, sh_degree, K, viewmat,
                                           width, height, near)
    proj = project(means, quats, scales, opacities, K, viewmat, width, height, near=near)
    rgb = eval_sh(sh_degree, colors, means - camera_center(viewmat)) if sh_degree is not None else colors
    return proj, rgb


def rasterize(means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, colors: Tensor,
              K: Tensor, viewmat: Tensor, width: int, height: int, background: Tensor | None = None,
              sh_degree: int | None = None, backend: str = "auto", near: float = 0.01) -> RenderOutput:
    """Render Gaussians into one camera; see the module docstring for shapes and conventions."""
    _check_inputs(means, quats, scales, opacities, colors, K, viewmat, sh_degree)
    K = K.to(device=means.device, dtype=means.dtype)
    viewmat = viewmat.to(device=means.device, dtype=means.dtype)
    name = resolve_backend(backend, means.device)
    bg = _background(background, means, width, height)
    if name == "gsplat":
        from gtalker.splat.backends import gsplat_backend

        color, alpha, depth, means2d, radii = gsplat_backend.render(
            means, quats, scales, opacities, colors, K, viewmat, width, height, sh_degree, near)
    elif name == "inria":
        from gtalker.splat.backends import inria_backend

        color, alpha, depth, means2d, radii = inria_backend.render(
            means, quats, scales, opacities, colors, K, viewmat, width, height, sh_degree, near)
    else:
        from gtalker.splat.backends import reference, torch_tiles

        proj, rgb = _project_shade(name, means, quats, scales, opacities, colors, sh_degree, K, viewmat,
                                   width, height, near)
        means2d, radii = proj.means2d, proj.radii
        if means2d.requires_grad:
            means2d.retain_grad()
        if name == "numba":
            from gtalker.splat.backends import numba_tiles as impl
        else:
            impl = torch_tiles if name == "torch" else reference
        color, alpha, depth = impl.render(proj, rgb, opacities, width, height)
    if bg is not None:
        color = color + (1.0 - alpha) * bg
    return RenderOutput(color=color, alpha=alpha, depth=depth, means2d=means2d, radii=radii)


def rasterize_batch(means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, colors: Tensor,
                    K: Tensor, viewmat: Tensor, width: int, height: int, background: Tensor | None = None,
                    sh_degree: int | None = None, backend: str = "auto", near: float = 0.01) -> RenderOutput:
    """Render B cameras in one call (like gsplat's batched viewmats/Ks).

    K [B,3,3], viewmat [B,4,4]; every Gaussian attribute either per frame ([B,N,...]) or shared ([N,...]);
    background [B,H,W,3], [H,W,3], [3] or None. The RenderOutput's fields gain a leading B (color
    [B,H,W,3], alpha/depth [B,H,W,1], means2d [B,N,2] whose .grad is kept, radii [B,N]). With numba all the
    frames' tiles go through one kernel call (its costs paid once, the threads shared by all tiles); the
    other backends render frame by frame (gsplat and inria without a kept means2d .grad).
    """
    if K.ndim != 3 or viewmat.ndim != 3 or K.shape[0] != viewmat.shape[0]:
        raise ValueError(f"rasterize_batch: K must be [B,3,3] and viewmat [B,4,4], got {tuple(K.shape)}, "
                         f"{tuple(viewmat.shape)}")
    b_n = K.shape[0]
    per_frame = {"means": 3, "quats": 3, "scales": 3, "opacities": 2, "colors": 3 if sh_degree is None else 4}
    given = {"means": means, "quats": quats, "scales": scales, "opacities": opacities, "colors": colors}

    # per-frame attributes unbound once: their backward is one stack, not a zero-filled [B,...] per frame
    frames = {k: x.unbind(0) for k, x in given.items() if x.ndim == per_frame[k]}

    def frame(name: str, b: int) -> Tensor:
        return frames[name][b] if name in frames else given[name]

    if background is not None and background.ndim == 4:
        bgs = [background[b] for b in range(b_n)]
    else:
        bgs = [background] * b_n
    name = resolve_backend(backend, means.device)
    if name in ("gsplat", "inria"):
        outs = [rasterize(*(frame(k, b) for k in given), K[b], viewmat[b], width, height, bgs[b], sh_degree,
                          name, near) for b in range(b_n)]
        return RenderOutput(*(torch.stack([getattr(o, f) for o in outs]) for f in
                              ("color", "alpha", "depth", "means2d", "radii")))
    projs, rgbs, opas = [], [], []
    for b in range(b_n):
        m, q, s, o, c = (frame(k, b) for k in given)
        _check_inputs(m, q, s, o, c, K[b], viewmat[b], sh_degree)
        Kb = K[b].to(device=m.device, dtype=m.dtype)
        Vb = viewmat[b].to(device=m.device, dtype=m.dtype)
        proj, rgb = _project_shade(name, m, q, s, o, c, sh_degree, Kb, Vb, width, height, near)
        projs.append(proj)
        rgbs.append(rgb)
        opas.append(o)
    means2d = torch.stack([p.means2d for p in projs])
    if means2d.requires_grad:
        means2d.retain_grad()
    for b, p in enumerate(projs):
        p.means2d = means2d[b]
    if name == "numba":
        from gtalker.splat.backends import numba_tiles

        color, alpha, depth = numba_tiles.render_batch(projs, rgbs, opas, width, height)
    else:
        from gtalker.splat.backends import reference, torch_tiles

        impl = torch_tiles if name == "torch" else reference
        color, alpha, depth = (torch.stack(x) for x in zip(*(impl.render(p, c, o, width, height)
                                                             for p, c, o in zip(projs, rgbs, opas))))
    bg = [_background(x, means, width, height) for x in bgs]
    if any(x is not None for x in bg):
        color = torch.stack([color[b] + (1.0 - alpha[b]) * bg[b] if bg[b] is not None else color[b]
                             for b in range(b_n)])
    return RenderOutput(color=color, alpha=alpha, depth=depth, means2d=means2d,
                        radii=torch.stack([p.radii for p in projs]))
