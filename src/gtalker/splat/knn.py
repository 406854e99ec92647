"""Initial Gaussian scales: mean distance to the 3 nearest neighbours (as 3DGS).

scipy's KD-tree on CPU; the simple-knn CUDA kernel (distCUDA2) when installed and the points are on CUDA;
brute force in torch (blocks of rows) where neither is there (e.g. a GPU machine with torch alone).
"""

from __future__ import annotations

import importlib

import numpy as np
import torch
from torch import Tensor


def _simple_knn():
    """distCUDA2 from simple-knn (standalone, or as shipped by the `gaussian-splatting` package), or None."""
    for name in ("simple_knn._C", "gaussian_splatting.simple_knn._C"):
        try:
            return importlib.import_module(name).distCUDA2
        except Exception:  # noqa: BLE001 - missing package or a build without CUDA
            continue
    return None


def mean_knn_distance(points: Tensor, k: int = 3) -> Tensor:
    """Mean Euclidean distance [N] from every point to its k nearest other points."""
    n = points.shape[0]
    if n < 2:
        return torch.full((n,), 0.01, dtype=points.dtype, device=points.device)
    if points.is_cuda and k == 3:
        dist_cuda2 = _simple_knn()
        if dist_cuda2 is not None:
            # distCUDA2 returns the mean *squared* distance to the 3 nearest neighbours.
            return torch.sqrt(dist_cuda2(points.float().contiguous()).clamp_min(1e-14)).to(points.dtype)
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        return _brute_force_knn(points, min(k, n - 1))
    pts = points.detach().cpu().double().numpy()
    kk = min(k, n - 1)
    dist, _ = cKDTree(pts).query(pts, k=kk + 1)
    mean = np.asarray(dist, dtype=np.float64).reshape(n, kk + 1)[:, 1:].mean(axis=1)
    return torch.from_numpy(mean).to(dtype=points.dtype, device=points.device)


def _brute_force_knn(points: Tensor, k: int, block: int = 2048) -> Tensor:
    """Mean distance to the k nearest other points by exhaustive distances, `block` rows at a time."""
    pts = points.detach().double()
    out = []
    for start in range(0, pts.shape[0], block):
        d = torch.cdist(pts[start:start + block], pts)
        nearest = d.topk(k + 1, dim=1, largest=False).values[:, 1:]  # the first is the point itself
        out.append(nearest.mean(dim=1))
    return torch.cat(out).to(dtype=points.dtype)


def initial_log_scales(points: Tensor, min_scale: float = 1e-7) -> Tensor:
    """Isotropic log-scales [N, 3] from the mean 3-NN distance."""
    d = mean_knn_distance(points).clamp_min(min_scale)
    return torch.log(d)[:, None].repeat(1, 3)
