"""Tile rasteriser compiled with numba for the CPU, forward and backward (a torch.autograd.Function).

The same maths as the torch tile backend (backends.common): Gaussians depth-sorted and binned to 16x16
tiles (the boxes of torch_tiles.bin_to_tiles, by a counting sort here), every pixel composites its tile's list front to back with
q = (-a/2 dx^2) + (-c/2 dy^2 + ln o) + (-b dx) dy, alpha = min(0.99, exp q) where q >= cutoff, and stops
before the Gaussian that would bring the transmittance T below 1e-4. The forward pass also keeps, per
pixel, the final T and the end of its list; the backward pass walks each pixel's list back to front,
recovering T_i = T_{i+1} / (1 - alpha_i) (as the 3DGS CUDA kernel does), with

    dL/dalpha_i = T_i (g . f_i) - S_i / (1 - alpha_i),   S_i = sum_{j>i} w_j (g . f_j),   w_i = alpha_i T_i

for the pixel's output gradient g and features f = (colour, depth, 1). Gradients are summed per
(tile, Gaussian) pair in the tile's own rows of a buffer (no races between threads, deterministic)
and then per Gaussian, in pair order, Gaussians in parallel (_sum_pairs). Tiles run in parallel
(numba prange, dynamic chunks of one tile) on torch's thread count. Compiled once per machine (numba cache=True: in the package's __pycache__, or
numba's user cache directory when the package is read-only; NUMBA_CACHE_DIR overrides).

Without gradients (rendering), tiles are INFERENCE_TILE px: a pixel's list then holds fewer Gaussians
that cannot reach it, and the same ones that can, in the same order, so the images are bit-identical
and faster (tests/test_splat_rasterize.py; benchmarks/render_speed.py). With gradients the tiles stay
TILE px, so training is unchanged.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from numba import njit, prange
from torch import Tensor

from gtalker.common import InputError, match_numba_threads
from gtalker.splat.backends.common import T_MIN, cutoff_q, log_opacity
from gtalker.splat.backends.torch_tiles import TILE
from gtalker.splat.geometry import ALPHA_MAX, Projection

INFERENCE_TILE = 8  # tile side without gradients: 0.73x (128 px) to 0.9x (512 px) the 16 px tiles' time
N_GRAD = 6  # per pair: d means2d (2), d conic (3), d ln o (1); then the feature gradients


@njit(cache=True, nogil=True)
def _bin(order, means2d, extents, width, height, tile, tiles_x, n_tiles):  # pragma: no cover - compiled
    """Tile offsets [n_tiles+1] and Gaussian ids of every (tile, Gaussian) pair, by tile then in `order`
    (front to back): a counting sort, with the boxes of torch_tiles.bin_to_tiles."""
    n = order.shape[0]
    box = np.empty((n, 4), dtype=np.int64)
    counts = np.zeros(n_tiles + 1, dtype=np.int64)
    for i in range(n):
        g = order[i]
        u, v, ex, ey = means2d[g, 0], means2d[g, 1], extents[g, 0], extents[g, 1]
        j0 = int(min(max(np.ceil(u - ex), 0), width - 1)) // tile
        j1 = int(min(max(np.floor(u + ex), 0), width - 1)) // tile
        i0 = int(min(max(np.ceil(v - ey), 0), height - 1)) // tile
        i1 = int(min(max(np.floor(v + ey), 0), height - 1)) // tile
        box[i, 0], box[i, 1], box[i, 2], box[i, 3] = j0, j1, i0, i1
        for ty in range(i0, i1 + 1):
            for tx in range(j0, j1 + 1):
                counts[ty * tiles_x + tx + 1] += 1
    offsets = np.cumsum(counts)
    fill = offsets[:-1].copy()
    gids = np.empty(offsets[-1], dtype=np.int64)
    for i in range(n):
        for ty in range(box[i, 2], box[i, 3] + 1):
            for tx in range(box[i, 0], box[i, 1] + 1):
                t = ty * tiles_x + tx
                gids[fill[t]] = order[i]
                fill[t] += 1
    return offsets, gids


@njit(cache=True, nogil=True, inline="always")
def _gather(start, end, gids, means2d, conics, log_o, cut, feats, half):  # pragma: no cover - compiled
    """A tile's Gaussians as contiguous arrays: centre, -a/2, -c/2, -b, ln o, cutoff, features."""
    m = end - start
    par = np.empty((m, 7), dtype=means2d.dtype)
    fe = np.empty((m, feats.shape[1]), dtype=feats.dtype)
    for i in range(m):
        g = gids[start + i]
        par[i, 0], par[i, 1] = means2d[g, 0], means2d[g, 1]
        par[i, 2] = -(conics[g, 0] * half)
        par[i, 3] = -(conics[g, 2] * half)
        par[i, 4] = -conics[g, 1]
        par[i, 5], par[i, 6] = log_o[g], cut[g]
        fe[i] = feats[g]
    return par, fe


@njit(cache=True, nogil=True)
def _tile_origin(t, tiles_x, tile, height):  # pragma: no cover - compiled
    """Frame and top-left pixel (b, y0, x0) of global tile t (tiles numbered frame by frame, row-major)."""
    per_frame = tiles_x * ((height + tile - 1) // tile)
    tt = t % per_frame
    return t // per_frame, (tt // tiles_x) * tile, (tt % tiles_x) * tile


@njit(parallel=True, cache=True, nogil=True)
def _forward(offsets, gids, means2d, conics, log_o, cut, feats, xs, ys, tiles_x, tile,
             one, alpha_max, t_min, out, t_final, last):  # pragma: no cover - compiled
    n_tiles = offsets.shape[0] - 1
    n_feat = feats.shape[1]
    height, width = out.shape[1], out.shape[2]
    half = one / (one + one)
    for t in prange(n_tiles):
        start, end = offsets[t], offsets[t + 1]
        if start == end:
            continue
        par, fe = _gather(start, end, gids, means2d, conics, log_o, cut, feats, half)
        b, y0, x0 = _tile_origin(t, tiles_x, tile, height)
        acc = np.zeros(n_feat + 1, dtype=out.dtype)
        for py in range(y0, min(y0 + tile, height)):
            for px in range(x0, min(x0 + tile, width)):
                acc[:] = 0
                T = one
                stop = 0
                for i in range(end - start):
                    dx = xs[px] - par[i, 0]
                    dy = ys[py] - par[i, 1]
                    q = (par[i, 2] * dx * dx) + (par[i, 3] * dy * dy + par[i, 5]) + (par[i, 4] * dx) * dy
                    if not q >= par[i, 6]:
                        continue
                    alpha = min(alpha_max, math.exp(q))
                    t_next = T * (one - alpha)
                    if t_next < t_min:
                        break
                    w = alpha * T
                    for f in range(n_feat):
                        acc[f] += w * fe[i, f]
                    acc[n_feat] += w
                    T = t_next
                    stop = i + 1
                for f in range(n_feat + 1):
                    out[b, py, px, f] = acc[f]
                t_final[b, py, px] = T
                last[b, py, px] = start + stop


@njit(parallel=True, cache=True, nogil=True)
def _backward(offsets, gids, means2d, conics, log_o, cut, feats, xs, ys, tiles_x, tile,
              one, alpha_max, grad_out, t_final, last, pair_grad):  # pragma: no cover - compiled
    n_tiles = offsets.shape[0] - 1
    n_feat = feats.shape[1]
    height, width = grad_out.shape[1], grad_out.shape[2]
    half = one / (one + one)
    for t in prange(n_tiles):
        start, end = offsets[t], offsets[t + 1]
        if start == end:
            continue
        par, fe = _gather(start, end, gids, means2d, conics, log_o, cut, feats, half)
        b, y0, x0 = _tile_origin(t, tiles_x, tile, height)
        for py in range(y0, min(y0 + tile, height)):
            for px in range(x0, min(x0 + tile, width)):
                g_alpha = np.float64(grad_out[b, py, px, n_feat])
                T = np.float64(t_final[b, py, px])
                S = 0.0
                for i in range(last[b, py, px] - 1 - start, -1, -1):
                    dx = xs[px] - par[i, 0]
                    dy = ys[py] - par[i, 1]
                    q = (par[i, 2] * dx * dx) + (par[i, 3] * dy * dy + par[i, 5]) + (par[i, 4] * dx) * dy
                    if not q >= par[i, 6]:
                        continue
                    e = math.exp(q)
                    alpha = np.float64(min(alpha_max, e))
                    T = T / (1.0 - alpha)
                    w = alpha * T
                    k = start + i
                    gf = g_alpha
                    for f in range(n_feat):
                        gout = np.float64(grad_out[b, py, px, f])
                        gf += gout * fe[i, f]
                        pair_grad[k, N_GRAD + f] += w * gout
                    d_alpha = T * gf - S / (1.0 - alpha)
                    S += w * gf
                    if e <= alpha_max:
                        dq = d_alpha * alpha
                        fdx, fdy = np.float64(dx), np.float64(dy)
                        ha, hc, nb = np.float64(par[i, 2]), np.float64(par[i, 3]), np.float64(par[i, 4])
                        pair_grad[k, 0] -= dq * (2.0 * ha * fdx + nb * fdy)
                        pair_grad[k, 1] -= dq * (2.0 * hc * fdy + nb * fdx)
                        pair_grad[k, 2] += dq * (-0.5 * fdx * fdx)
                        pair_grad[k, 3] += dq * (-fdx * fdy)
                        pair_grad[k, 4] += dq * (-0.5 * fdy * fdy)
                        pair_grad[k, 5] += dq


@njit(parallel=True, cache=True, nogil=True)
def _sum_pairs(gids, pair_grad, n):  # pragma: no cover - compiled
    """Per Gaussian, the sum of its pairs' gradient rows [n, F] (float64), each in pair order (as a
    sequential index_add would add them), Gaussians in parallel."""
    counts = np.zeros(n + 1, dtype=np.int64)
    for p in range(gids.shape[0]):
        counts[gids[p] + 1] += 1
    starts = np.cumsum(counts)
    fill = starts[:-1].copy()
    order = np.empty(gids.shape[0], dtype=np.int64)
    for p in range(gids.shape[0]):
        g = gids[p]
        order[fill[g]] = p
        fill[g] += 1
    out = np.zeros((n, pair_grad.shape[1]), dtype=np.float64)
    for g in prange(n):
        for j in range(starts[g], starts[g + 1]):
            for f in range(pair_grad.shape[1]):
                out[g, f] += pair_grad[order[j], f]
    return out


def _np(x: Tensor) -> np.ndarray:
    return x.detach().contiguous().numpy()


class _Composite(torch.autograd.Function):
    """Images [B,H,W,F+1] (features composited, then alpha) of depth-sorted, tile-binned 2D Gaussians:
    the B frames' Gaussians concatenated, their tiles numbered frame by frame."""

    @staticmethod
    def forward(ctx, means2d: Tensor, conics: Tensor, log_o: Tensor, feats: Tensor, cut: Tensor,
                offsets: Tensor, gids: Tensor, width: int, height: int, frames: int, tile: int) -> Tensor:
        dtype = means2d.dtype
        tiles_x = (width + tile - 1) // tile
        arrays = [_np(means2d), _np(conics), _np(log_o), _np(cut), _np(feats)]
        xs = np.arange(width, dtype=arrays[0].dtype)
        ys = np.arange(height, dtype=arrays[0].dtype)
        out = np.zeros((frames, height, width, feats.shape[1] + 1), dtype=arrays[0].dtype)
        t_final = np.ones((frames, height, width), dtype=arrays[0].dtype)
        last = np.zeros((frames, height, width), dtype=np.int64)
        one, alpha_max, t_min = (arrays[0].dtype.type(v) for v in (1.0, ALPHA_MAX, T_MIN))
        off, gid = _np(offsets), _np(gids)
        match_numba_threads()
        with numba.parallel_chunksize(1):
            _forward(off, gid, arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], xs, ys, tiles_x, tile,
                     one, alpha_max, t_min, out, t_final, last)
        ctx.state = (off, gid, arrays, xs, ys, tiles_x, one, alpha_max, t_final, last, means2d.shape[0], tile)
        return torch.from_numpy(out).to(dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        off, gid, arrays, xs, ys, tiles_x, one, alpha_max, t_final, last, n, tile = ctx.state
        n_feat = arrays[4].shape[1]
        pair_grad = np.zeros((gid.shape[0], N_GRAD + n_feat), dtype=np.float64)
        g = grad_out.detach().contiguous().to(torch.from_numpy(arrays[0][:0]).dtype).numpy()
        match_numba_threads()
        with numba.parallel_chunksize(1):
            _backward(off, gid, arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], xs, ys, tiles_x, tile,
                      one, alpha_max, g, t_final, last, pair_grad)
        per = torch.from_numpy(_sum_pairs(gid, pair_grad, n))
        dtype = grad_out.dtype
        return (per[:, 0:2].to(dtype), per[:, 2:5].to(dtype), per[:, 5].to(dtype), per[:, N_GRAD:].to(dtype),
                None, None, None, None, None, None, None)


def _frame_lists(proj: Projection, width: int, height: int, tile: int = TILE) -> tuple[np.ndarray, np.ndarray]:
    """Tile offsets and Gaussian ids of one frame (visible Gaussians, front to back in every tile)."""
    if proj.means2d.device.type != "cpu":
        raise InputError("rasteriser backend 'numba' runs on the CPU only; use backend torch or gsplat on "
                         f"{proj.means2d.device}")
    tiles_x, tiles_y = (width + tile - 1) // tile, (height + tile - 1) // tile
    with torch.no_grad():
        idx = torch.nonzero(proj.visible).squeeze(1)
        order = idx[torch.argsort(proj.depths[idx], stable=True)]
    return _bin(_np(order), _np(proj.means2d), _np(proj.extents), width, height, tile, tiles_x,
                tiles_x * tiles_y)


def tile_size(*inputs: Tensor) -> int:
    """TILE when a gradient may flow back through the inputs, else INFERENCE_TILE."""
    grad = torch.is_grad_enabled() and any(x.requires_grad for x in inputs)
    return TILE if grad else INFERENCE_TILE


def render_batch(projs: list[Projection], colors: list[Tensor], opacities: list[Tensor], width: int,
                 height: int) -> tuple[Tensor, Tensor, Tensor]:
    """Colour [B,H,W,3] (over black), alpha and depth [B,H,W,1] of B frames in one kernel call (all the
    frames' tiles share the threads)."""
    tile = tile_size(*(p.means2d for p in projs), *(p.conics for p in projs), *(p.depths for p in projs),
                     *colors, *opacities)
    offs, gids, base, pairs = [], [], 0, 0
    for proj in projs:
        off, gid = _frame_lists(proj, width, height, tile)
        offs.append(off[:-1] + pairs)
        gids.append(gid + base)
        base += proj.means2d.shape[0]
        pairs += int(off[-1])
    offsets = torch.from_numpy(np.concatenate(offs + [np.array([pairs], dtype=np.int64)]))
    gid = torch.from_numpy(np.concatenate(gids))
    log_o = torch.cat([log_opacity(o) for o in opacities])
    feats = torch.cat([torch.cat([c, p.depths[:, None]], dim=1) for p, c in zip(projs, colors)])
    means2d = torch.cat([p.means2d for p in projs])
    conics = torch.cat([p.conics for p in projs])
    img = _Composite.apply(means2d, conics, log_o, feats, cutoff_q(log_o), offsets, gid, width, height,
                           len(projs), tile)
    return img[..., :3], img[..., 4:5], img[..., 3:4]


def render(proj: Projection, colors: Tensor, opacities: Tensor, width: int, height: int
           ) -> tuple[Tensor, Tensor, Tensor]:
    """Colour [H,W,3] (over black), alpha [H,W,1] and alpha-weighted depth [H,W,1]."""
    color, alpha, depth = render_batch([proj], [colors], [opacities], width, height)
    return color[0], alpha[0], depth[0]
