"""Backend wrapping gsplat's `rasterization` (PyPI `gsplat`, CUDA only; kernels compile on first use).

gsplat centres pixel (i, j) at (j + 0.5, i + 0.5); our convention centres it at (j, i), so the principal
point is shifted by +0.5 px on the way in and the returned centres by -0.5 px on the way out. The
per-pixel background is composited by the caller (gsplat renders over black here), and depth is
gsplat's accumulated depth (render_mode "RGB+D": sum of w_i z_i), as ours.
"""

from __future__ import annotations

from torch import Tensor

from gtalker.common import InputError


def _gsplat_rasterization():
    try:
        from gsplat import rasterization  # type: ignore[import-not-found]
    except ImportError as err:
        raise InputError("rasteriser backend 'gsplat' needs the gsplat package (pip install 'gsplat>=1.5', "
                         "CUDA only); use backend 'torch' (or 'auto') instead") from err
    return rasterization


def render(means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, colors: Tensor, K: Tensor,
           viewmat: Tensor, width: int, height: int, sh_degree: int | None,
           near: float) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(colour over black [H,W,3], alpha [H,W,1], depth [H,W,1], means2d [N,2], radii [N])."""
    rasterization = _gsplat_rasterization()
    if not means.is_cuda:
        raise InputError("rasteriser backend 'gsplat' runs on CUDA tensors only; use backend 'torch' on CPU "
                         "(or device: auto on a machine with a GPU)")
    Kg = K.clone()
    Kg[0, 2] = Kg[0, 2] + 0.5
    Kg[1, 2] = Kg[1, 2] + 0.5
    if sh_degree is not None:
        colors = colors[:, :(sh_degree + 1) ** 2]
    render_colors, render_alphas, meta = rasterization(
        means, quats, scales, opacities, colors, viewmat[None], Kg[None], width, height,
        near_plane=near, sh_degree=sh_degree, packed=False, render_mode="RGB+D")
    means2d_g = meta["means2d"]
    if means2d_g.requires_grad:
        means2d_g.retain_grad()
    means2d = means2d_g[0] - 0.5
    if means2d.requires_grad:
        means2d.retain_grad()
    radii = meta["radii"][0]
    if radii.dim() == 2:  # gsplat >= 1.5 returns per-axis radii
        radii = radii.max(dim=-1).values
    out = render_colors[0]
    return out[..., :3], render_alphas[0], out[..., 3:4], means2d, radii.int()
