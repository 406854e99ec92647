"""Tile rasteriser compiled with numba for the CPU, forward and backward (a torch.autograd.Function).

The same maths as the torch tile backend (backends.common): Gaussians depth-sorted and binned to 16x16
tiles (the boxes of torch_tiles.bin_to_tiles, by a counting sort here); every pixel composites its
tile's list front to back with q = (-a/2 dx^2) + (-c/2 dy^2 + ln o) + (-b dx) dy, alpha = min(0.99, exp q)
where q >= cutoff, and stops before the Gaussian that would bring the transmittance T below 1e-4. The
forward pass also keeps, per pixel, the final T and the end of its list; the backward pass walks each
pixel's list back to front, recovering T_i = T_{i+1} / (1 - alpha_i) (as the 3DGS CUDA kernel does), with

    dL/dalpha_i = T_i (g . f_i) - S_i / (1 - alpha_i),   S_i = sum_{j>i} w_j (g . f_j),   w_i = alpha_i T_i

for the pixel's output gradient g and features f = (colour, depth, 1).

Each tile first lists, per pixel row, the Gaussians whose support may reach the row and the columns
they may reach (_row_spans), then composites the row Gaussian by Gaussian over those columns only.
Every pixel still meets its Gaussians in the same order with the same float32 arithmetic, so the images
are bit for bit those of a per-pixel loop over the tile's whole list (and of any tile side), for 2-3x
less work on a trained head. Gradients are summed per (tile, Gaussian) pair in the tile's own rows of a
buffer (no races between threads, deterministic; pixels in raster order), then per Gaussian in pair
order, Gaussians in parallel (_sum_pairs). Tiles run in parallel (numba prange, dynamic chunks of one
tile) on torch's thread count. Compiled once per machine (numba cache=True: in the package's
__pycache__, or numba's user cache directory when the package is read-only; NUMBA_CACHE_DIR overrides).
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
        for f in range(feats.shape[1]):  # element by element: a row copy costs numba ~2 s more to compile
            fe[i, f] = feats[g, f]
    return par, fe


@njit(cache=True, nogil=True)
def _tile_origin(t, tiles_x, tile, height):  # pragma: no cover - compiled
    """Frame and top-left pixel (b, y0, x0) of global tile t (tiles numbered frame by frame, row-major)."""
    per_frame = tiles_x * ((height + tile - 1) // tile)
    tt = t % per_frame
    return t // per_frame, (tt // tiles_x) * tile, (tt % tiles_x) * tile


@njit(cache=True, nogil=True)
def _row_spans(par, x0, y0, tile, width, height):  # pragma: no cover - compiled
    """Per pixel row of a tile: how many of the tile's Gaussians may reach it, which (indices into par,
    in order), and the first and last column each may reach. A conservative pre-filter of the exact
    test q >= cutoff.

    With A = -a/2, B = -b, C = -c/2 (par[:, 2:5]) a Gaussian's support on the row at dy is the interval
    of dx where A dx^2 + B dy dx + C dy^2 + ln o >= cutoff. It is solved in float64 against the cutoff
    lowered by a margin ~30x the float32 rounding of q on this tile, so every (pixel, Gaussian) that the
    exact test passes is kept. A conic that is not positive definite (or not finite) gets whole rows.
    Pixel centres sit at integer coordinates (the kernels' xs, ys = arange)."""
    m = par.shape[0]
    rows = min(tile, height - y0)
    x1 = min(x0 + tile, width) - 1
    count = np.zeros(rows, dtype=np.int64)
    idx = np.empty((rows, m), dtype=np.int32)
    lo = np.empty((rows, m), dtype=np.int32)
    hi = np.empty((rows, m), dtype=np.int32)
    for i in range(m):
        u, v = np.float64(par[i, 0]), np.float64(par[i, 1])
        a, c, b = np.float64(par[i, 2]), np.float64(par[i, 3]), np.float64(par[i, 4])  # A, C, B
        ln_o, cut = np.float64(par[i, 5]), np.float64(par[i, 6])
        det = 4.0 * a * c - b * b
        dy_max = math.inf
        if a < 0.0 and det > 0.0 and abs(u) < 1e7 and abs(v) < 1e7:
            dxm = max(abs(x0 - u), abs(x1 - u))
            dym = max(abs(y0 - v), abs(y0 + rows - 1 - v))
            margin = 1e-5 * (-a * dxm * dxm - c * dym * dym + abs(b) * dxm * dym + abs(ln_o) + abs(cut)) + 1e-6
            need = cut - margin - ln_o  # the pixels with A dx^2 + B dy dx + C dy^2 >= need
            if need > 0.0:
                continue
            # at its best dx a row reaches dy^2 (C - B^2 / 4A) = dy^2 det / 4A
            dy_max = math.sqrt(need * 4.0 * a / det)
        if not dy_max < 1e7:  # not positive definite, or not finite: whole rows
            for r in range(rows):
                k = count[r]
                idx[r, k], lo[r, k], hi[r, k] = i, x0, x1
                count[r] = k + 1
            continue
        r0 = int(math.ceil(max(v - dy_max - y0, 0.0)))
        r1 = int(math.floor(min(v + dy_max - y0, rows - 1.0)))
        for r in range(r0, r1 + 1):
            dy = (y0 + r) - v
            disc = b * b * dy * dy - 4.0 * a * (c * dy * dy - need)
            if disc < 0.0:
                continue
            s = math.sqrt(disc)
            e0 = (-b * dy + s) / (2.0 * a)
            e1 = (-b * dy - s) / (2.0 * a)
            c0 = int(math.ceil(max(u + min(e0, e1), np.float64(x0))))
            c1 = int(math.floor(min(u + max(e0, e1), np.float64(x1))))
            if c0 > c1:
                continue
            k = count[r]
            idx[r, k], lo[r, k], hi[r, k] = i, c0, c1
            count[r] = k + 1
    return count, idx, lo, hi


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
        count, idx, lo, hi = _row_spans(par, x0, y0, tile, width, height)
        cols = min(tile, width - x0)
        acc = np.empty((cols, n_feat + 1), dtype=out.dtype)
        trans = np.empty(cols, dtype=out.dtype)
        stop = np.empty(cols, dtype=np.int64)
        done = np.empty(cols, dtype=np.bool_)
        for r in range(count.shape[0]):
            py = y0 + r
            acc[:] = 0
            trans[:] = one
            stop[:] = 0
            done[:] = False
            alive = cols
            # Gaussian by Gaussian along the row: each pixel still sees its Gaussians front to back
            for k in range(count[r]):
                i = idx[r, k]
                for px in range(lo[r, k], hi[r, k] + 1):
                    c = px - x0
                    if done[c]:
                        continue
                    dx = xs[px] - par[i, 0]
                    dy = ys[py] - par[i, 1]
                    q = (par[i, 2] * dx * dx) + (par[i, 3] * dy * dy + par[i, 5]) + (par[i, 4] * dx) * dy
                    if not q >= par[i, 6]:
                        continue
                    alpha = min(alpha_max, math.exp(q))
                    t_next = trans[c] * (one - alpha)
                    if t_next < t_min:
                        done[c] = True
                        alive -= 1
                        continue
                    w = alpha * trans[c]
                    for f in range(n_feat):
                        acc[c, f] += w * fe[i, f]
                    acc[c, n_feat] += w
                    trans[c] = t_next
                    stop[c] = i + 1
                if alive == 0:
                    break
            for c in range(cols):
                for f in range(n_feat + 1):
                    out[b, py, x0 + c, f] = acc[c, f]
                t_final[b, py, x0 + c] = trans[c]
                last[b, py, x0 + c] = start + stop[c]


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
        count, idx, lo, hi = _row_spans(par, x0, y0, tile, width, height)
        cols = min(tile, width - x0)
        trans = np.empty(cols, dtype=np.float64)
        after = np.empty(cols, dtype=np.float64)  # S: sum over the Gaussians behind of w (g . f)
        stop = np.empty(cols, dtype=np.int64)
        for r in range(count.shape[0]):
            py = y0 + r
            for c in range(cols):
                trans[c] = t_final[b, py, x0 + c]
                after[c] = 0.0
                stop[c] = last[b, py, x0 + c] - start
            # Gaussian by Gaussian along the row, back to front: each pixel sees its Gaussians in the
            # forward pass's reverse order, and each pair's gradient row still sums its pixels row by row
            for kk in range(count[r] - 1, -1, -1):
                i = idx[r, kk]
                k = start + i
                for px in range(lo[r, kk], hi[r, kk] + 1):
                    c = px - x0
                    if i >= stop[c]:
                        continue
                    dx = xs[px] - par[i, 0]
                    dy = ys[py] - par[i, 1]
                    q = (par[i, 2] * dx * dx) + (par[i, 3] * dy * dy + par[i, 5]) + (par[i, 4] * dx) * dy
                    if not q >= par[i, 6]:
                        continue
                    e = math.exp(q)
                    alpha = np.float64(min(alpha_max, e))
                    T = trans[c] / (1.0 - alpha)
                    trans[c] = T
                    w = alpha * T
                    gf = np.float64(grad_out[b, py, px, n_feat])
                    for f in range(n_feat):
                        gout = np.float64(grad_out[b, py, px, f])
                        gf += gout * fe[i, f]
                        pair_grad[k, N_GRAD + f] += w * gout
                    d_alpha = T * gf - after[c] / (1.0 - alpha)
                    after[c] += w * gf
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


def render_batch(projs: list[Projection], colors: list[Tensor], opacities: list[Tensor], width: int,
                 height: int) -> tuple[Tensor, Tensor, Tensor]:
    """Colour [B,H,W,3] (over black), alpha and depth [B,H,W,1] of B frames in one kernel call (all the
    frames' tiles share the threads)."""
    tile = TILE
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
    color, depth, alpha = img.split((3, 1, 1), dim=-1)  # one backward concatenation, not three zero fills
    return color, alpha, depth


def render(proj: Projection, colors: Tensor, opacities: Tensor, width: int, height: int
           ) -> tuple[Tensor, Tensor, Tensor]:
    """Colour [H,W,3] (over black), alpha [H,W,1] and alpha-weighted depth [H,W,1]."""
    color, alpha, depth = render_batch([proj], [colors], [opacities], width, height)
    return color[0], alpha[0], depth[0]
