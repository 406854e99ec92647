"""Backend wrapping the reference 3DGS rasteriser (graphdeco-inria diff-gaussian-rasterization).

Imported from the standalone `diff_gaussian_rasterization` package when installed, else from the copy
shipped by the PyPI package `gaussian-splatting` (GPU builds only). Its camera is a field of view and
an OpenGL-style projection matrix; we build one whose pixel mapping ((ndc + 1) W - 1) / 2 equals
fx x/z + cx, so that it renders our pinhole K with pixel centres at integers. It cannot take a
per-pixel background, so the background is composited by the caller; it culls at a fixed near plane
of 0.2 (the `near` argument is not used).
Depth and alpha come from a second pass with precomputed colours (z, 1, 0), which works with every
version of the library (older ones return no depth, newer ones return inverse depth).
"""

from __future__ import annotations

import importlib
import inspect

import torch
from torch import Tensor

from gtalker.common import InputError


def _module():
    for name in ("diff_gaussian_rasterization", "gaussian_splatting.diff_gaussian_rasterization"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise InputError("rasteriser backend 'inria' needs diff-gaussian-rasterization (build it from the 3DGS "
                     "repository, or pip install gaussian-splatting, which ships a GPU build); "
                     "use backend 'torch' (or 'auto') instead")


def projection_matrix(K: Tensor, width: int, height: int, near: float, far: float) -> Tensor:
    """4x4 clip matrix (column-vector form) mapping camera points to NDC matching K's pixel mapping."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    P = torch.zeros(4, 4, dtype=K.dtype, device=K.device)
    P[0, 0] = 2 * fx / width
    P[0, 2] = (2 * cx + 1) / width - 1
    P[1, 1] = 2 * fy / height
    P[1, 2] = (2 * cy + 1) / height - 1
    P[2, 2] = far / (far - near)
    P[2, 3] = -far * near / (far - near)
    P[3, 2] = 1.0
    return P


def _settings(mod, K: Tensor, viewmat: Tensor, width: int, height: int, sh_degree: int, near: float):
    far = 100.0
    P = projection_matrix(K, width, height, near, far)
    view_t = viewmat.transpose(0, 1).contiguous()           # the library expects transposed matrices
    full_t = (P @ viewmat).transpose(0, 1).contiguous()
    campos = -(viewmat[:3, :3].transpose(0, 1) @ viewmat[:3, 3])
    kwargs = dict(image_height=int(height), image_width=int(width),
                  tanfovx=float(0.5 * width / K[0, 0]), tanfovy=float(0.5 * height / K[1, 1]),
                  bg=torch.zeros(3, device=K.device, dtype=torch.float32), scale_modifier=1.0,
                  viewmatrix=view_t.float(), projmatrix=full_t.float(), sh_degree=int(sh_degree),
                  campos=campos.float(), prefiltered=False, debug=False)
    fields = getattr(mod.GaussianRasterizationSettings, "_fields", None) or \
        list(inspect.signature(mod.GaussianRasterizationSettings).parameters)
    if "antialiasing" in fields:
        kwargs["antialiasing"] = False
    return mod.GaussianRasterizationSettings(**kwargs)


def render(means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, colors: Tensor, K: Tensor,
           viewmat: Tensor, width: int, height: int, sh_degree: int | None,
           near: float) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(colour over black [H,W,3], alpha [H,W,1], depth [H,W,1], means2d [N,2], radii [N])."""
    mod = _module()
    if not means.is_cuda:
        raise InputError("rasteriser backend 'inria' runs on CUDA tensors only; use backend 'torch' on CPU")
    n = means.shape[0]
    # Screen-space centres in pixels; the library fills the gradient of its own NDC-like centres
    # (pixel gradient x W/2), so feed it centres scaled by 2/W to get pixel gradients here.
    with torch.no_grad():
        p = means @ viewmat[:3, :3].T + viewmat[:3, 3]
        z = p[:, 2].clamp_min(1e-6)
        pix = torch.stack([K[0, 0] * p[:, 0] / z + K[0, 2], K[1, 1] * p[:, 1] / z + K[1, 2]], dim=-1)
    means2d = pix.clone().requires_grad_(torch.is_grad_enabled())
    scale = torch.tensor([2.0 / width, 2.0 / height], device=means.device, dtype=means.dtype)
    screen = torch.cat([means2d * scale, torch.zeros(n, 1, device=means.device, dtype=means.dtype)], dim=1)
    rot = quats / quats.norm(dim=-1, keepdim=True)

    def run(settings, **colour):
        rasterizer = mod.GaussianRasterizer(raster_settings=settings)
        result = rasterizer(means3D=means, means2D=screen, opacities=opacities[:, None], scales=scales,
                            rotations=rot, **colour)
        return result[0], result[1]

    deg = 0 if sh_degree is None else sh_degree
    settings = _settings(mod, K, viewmat, width, height, deg, near)
    if sh_degree is None:
        color, radii = run(settings, colors_precomp=colors)
    else:
        color, radii = run(settings, shs=colors[:, :(sh_degree + 1) ** 2].contiguous())
    zcam = means @ viewmat[2, :3] + viewmat[2, 3]  # differentiable camera-space depth
    zcol = torch.stack([zcam, torch.ones(n, device=means.device, dtype=means.dtype),
                        torch.zeros(n, device=means.device, dtype=means.dtype)], dim=1)
    aux, _ = run(_settings(mod, K, viewmat, width, height, 0, near), colors_precomp=zcol)
    color = color.permute(1, 2, 0)
    aux = aux.permute(1, 2, 0)
    return color, aux[..., 1:2], aux[..., 0:1], means2d, radii.int()
