"""Tile-based rasteriser in pure PyTorch (CPU or GPU), differentiable through autograd.

As the 3DGS CUDA rasteriser does: Gaussians are sorted by depth once and binned to 16x16 pixel tiles by
the bounding box of their support (3-sigma ellipse, cut where alpha < 1/255); every tile composites its
list front to back with the alpha clamp 0.99, the 1/255 skip and the transmittance < 1e-4 stop
(backends.common). The per-tile lists are packed into a padded table and consumed in depth chunks of
`chunk` Gaussians for all active tiles at once: a chunk is a [tiles, chunk, 16, 16] tensor whose exponent is
built from separable row/column terms, whose transmittance is a cumulative product carried from chunk to
chunk, and whose colour/depth/alpha sums are one batched matmul. Tiles whose list is exhausted or whose
pixels have all stopped drop out of later chunks, so that cost follows the work.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gtalker.splat.backends.common import T_MIN, alpha_from_q, cutoff_q, log_opacity
from gtalker.splat.geometry import Projection

TILE = 16
CHUNK = 32  # measured best on CPU among 16..128 (longer chunks compute past early termination)


def bin_to_tiles(proj: Projection, width: int, height: int, tile: int = TILE) -> tuple[Tensor, Tensor]:
    """(tile id, Gaussian id) of every overlapping pair, sorted by tile then front to back."""
    with torch.no_grad():
        idx = torch.nonzero(proj.visible).squeeze(1)
        order = idx[torch.argsort(proj.depths[idx], stable=True)]
        u, v = proj.means2d[order, 0], proj.means2d[order, 1]
        ex, ey = proj.extents[order, 0], proj.extents[order, 1]
        j0 = torch.ceil(u - ex).clamp(0, width - 1).long() // tile
        j1 = torch.floor(u + ex).clamp(0, width - 1).long() // tile
        i0 = torch.ceil(v - ey).clamp(0, height - 1).long() // tile
        i1 = torch.floor(v + ey).clamp(0, height - 1).long() // tile
        ntx = j1 - j0 + 1
        counts = ntx * (i1 - i0 + 1)
        gid = torch.repeat_interleave(order, counts)
        first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        k = torch.arange(gid.numel(), device=gid.device) - first
        ntx_r = torch.repeat_interleave(ntx, counts)
        tx = torch.repeat_interleave(j0, counts) + k % ntx_r
        ty = torch.repeat_interleave(i0, counts) + torch.div(k, ntx_r, rounding_mode="floor")
        tiles_x = (width + tile - 1) // tile
        tile_id, perm = torch.sort(ty * tiles_x + tx, stable=True)
        return tile_id, gid[perm]


def tile_table(tile_id: Tensor, gid: Tensor, n_tiles: int, pad: int) -> tuple[Tensor, Tensor]:
    """Padded per-tile lists [n_tiles, K] of Gaussian ids (`pad` where empty) and the list lengths."""
    counts = torch.bincount(tile_id, minlength=n_tiles)
    k_max = int(counts.max()) if counts.numel() else 0
    first = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    rank = torch.arange(gid.numel(), device=gid.device) - first
    table = torch.full((n_tiles, k_max), pad, dtype=torch.long, device=gid.device)
    table[tile_id, rank] = gid
    return table, counts


def render(proj: Projection, colors: Tensor, opacities: Tensor, width: int, height: int,
           tile: int = TILE, chunk: int = CHUNK) -> tuple[Tensor, Tensor, Tensor]:
    """Colour [H,W,3] (over black), alpha [H,W,1] and alpha-weighted depth [H,W,1]."""
    device, dtype = proj.means2d.device, proj.means2d.dtype
    n = proj.means2d.shape[0]
    tiles_x, tiles_y = (width + tile - 1) // tile, (height + tile - 1) // tile
    n_tiles = tiles_x * tiles_y
    tile_id, gid = bin_to_tiles(proj, width, height, tile)
    table, counts = tile_table(tile_id, gid, n_tiles, pad=n)

    # Per-Gaussian terms, plus a dummy Gaussian (index n) that the padding points to: alpha 0 everywhere.
    def padded(x: Tensor, fill: float) -> Tensor:
        return torch.cat([x, torch.full_like(x[:1], fill)], dim=0)

    log_o = log_opacity(opacities)
    means2d = padded(proj.means2d, 0.0)
    ha = padded(-0.5 * proj.conics[:, 0], 0.0)
    nb = padded(-proj.conics[:, 1], 0.0)
    hc = padded(-0.5 * proj.conics[:, 2], 0.0)
    lo = padded(log_o, 0.0)
    cut = padded(cutoff_q(log_o), float("inf"))
    depth = proj.depths[:, None]
    feats = padded(torch.cat([colors, depth, torch.ones_like(depth)], dim=1), 0.0)

    lin = torch.arange(tile, device=device, dtype=dtype)
    tiles = torch.arange(n_tiles, device=device)
    ox = ((tiles % tiles_x) * tile).to(dtype)
    oy = (torch.div(tiles, tiles_x, rounding_mode="floor") * tile).to(dtype)

    acc = torch.zeros(n_tiles, tile * tile, feats.shape[1], device=device, dtype=dtype)
    trans = torch.ones(n_tiles, tile, tile, device=device, dtype=dtype)
    active = torch.nonzero(counts > 0).squeeze(1)
    start = 0
    while start < table.shape[1] and active.numel() > 0:
        g = table[active, start:start + chunk]                      # [A, C]
        dx = (ox[active, None, None] + lin) - means2d[g][..., 0:1]  # [A, C, 16] (columns)
        dy = (oy[active, None, None] + lin) - means2d[g][..., 1:2]  # [A, C, 16] (rows)
        col_a = ha[g][..., None] * dx * dx
        col_b = nb[g][..., None] * dx
        row_c = hc[g][..., None] * dy * dy + lo[g][..., None]
        q = (col_a[:, :, None, :] + row_c[:, :, :, None]) + col_b[:, :, None, :] * dy[:, :, :, None]
        alpha = alpha_from_q(q, cut[g][:, :, None, None])           # [A, C, 16, 16]
        t_prev = trans[active]
        t_after = t_prev[:, None] * torch.cumprod(1.0 - alpha, dim=1)
        t_before = torch.cat([t_prev[:, None], t_after[:, :-1]], dim=1)
        w = torch.where(t_after.detach() >= T_MIN, alpha * t_before, torch.zeros_like(alpha))
        a_n, c_n = g.shape
        part = torch.bmm(w.reshape(a_n, c_n, tile * tile).transpose(1, 2), feats[g])
        acc = acc.index_add(0, active, part)
        trans = trans.index_copy(0, active, t_after[:, -1])
        with torch.no_grad():
            alive = (t_after[:, -1].amax(dim=(1, 2)) >= T_MIN) & (counts[active] > start + chunk)
        active = active[alive]
        start += chunk

    img = (acc.reshape(tiles_y, tiles_x, tile, tile, -1).permute(0, 2, 1, 3, 4)
           .reshape(tiles_y * tile, tiles_x * tile, -1)[:height, :width])
    return img[..., :3], img[..., 4:5], img[..., 3:4]
