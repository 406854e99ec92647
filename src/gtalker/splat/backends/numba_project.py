"""Projection and SH shading of one camera's Gaussians in one compiled pass, forward and backward.

The same maths as gtalker.splat.geometry.project followed by gtalker.splat.sh.eval_sh (the readable
reference; tests/test_splat_numba_project.py pins values and gradients to them), as one numba kernel per
direction instead of ~150 small torch operations: on 2 CPU cores those cost more in thread wake-ups than
in arithmetic. Per Gaussian: camera point p = R m + t, centre (u, v), the EWA covariance
J R (Rq S)(Rq S)^T R^T J^T + eps2d with the Jacobian's tangents clamped to 1.3x the field of view, its
conic, the support box, and the colour max(0, sum_k Y_k(d) c_k + 0.5) along d = m - camera centre.
The backward pass recomputes the forward quantities and applies the chain rule by hand.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, prange
from torch import Tensor

from gtalker.common import match_numba_threads
from gtalker.splat.geometry import ALPHA_MIN, EPS_2D, SIGMA_CUTOFF, Projection
from gtalker.splat.sh import SH_C0, SH_C1, SH_C2, SH_C3

_C2 = np.array(SH_C2)
_C3 = np.array(SH_C3)


@njit(cache=True, nogil=True, inline="always")
def _rotation(q0, q1, q2, q3):  # pragma: no cover - compiled
    """Normalised quaternion (w, x, y, z), its norm and rotation matrix (row major, 9 values)."""
    norm = max(math.sqrt(q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3), 1e-12)
    w, x, y, z = q0 / norm, q1 / norm, q2 / norm, q3 / norm
    r = np.empty(9)
    r[0], r[1], r[2] = 1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)
    r[3], r[4], r[5] = 2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)
    r[6], r[7], r[8] = 2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)
    return w, x, y, z, norm, r


@njit(cache=True, nogil=True, inline="always")
def _sh_basis(x, y, z, k, c2, c3, out):  # pragma: no cover - compiled
    """The first k real SH basis values at unit (x, y, z) into out (as gtalker.splat.sh.sh_basis)."""
    out[0] = SH_C0
    if k > 1:
        out[1], out[2], out[3] = -SH_C1 * y, SH_C1 * z, -SH_C1 * x
    if k > 4:
        xx, yy, zz = x * x, y * y, z * z
        out[4], out[5], out[6] = c2[0] * x * y, c2[1] * y * z, c2[2] * (2 * zz - xx - yy)
        out[7], out[8] = c2[3] * x * z, c2[4] * (xx - yy)
    if k > 9:
        xx, yy, zz = x * x, y * y, z * z
        out[9], out[10] = c3[0] * y * (3 * xx - yy), c3[1] * x * y * z
        out[11], out[12] = c3[2] * y * (4 * zz - xx - yy), c3[3] * z * (2 * zz - 3 * xx - 3 * yy)
        out[13], out[14] = c3[4] * x * (4 * zz - xx - yy), c3[5] * z * (xx - yy)
        out[15] = c3[6] * x * (xx - 3 * yy)


@njit(cache=True, nogil=True, inline="always")
def _sh_basis_grad(x, y, z, k, c2, c3, gx, gy, gz):  # pragma: no cover - compiled
    """d Y_j / d (x, y, z) of the first k basis functions into gx, gy, gz."""
    for j in range(k):
        gx[j], gy[j], gz[j] = 0.0, 0.0, 0.0
    if k > 1:
        gy[1], gz[2], gx[3] = -SH_C1, SH_C1, -SH_C1
    if k > 4:
        gx[4], gy[4] = c2[0] * y, c2[0] * x
        gy[5], gz[5] = c2[1] * z, c2[1] * y
        gx[6], gy[6], gz[6] = -2 * c2[2] * x, -2 * c2[2] * y, 4 * c2[2] * z
        gx[7], gz[7] = c2[3] * z, c2[3] * x
        gx[8], gy[8] = 2 * c2[4] * x, -2 * c2[4] * y
    if k > 9:
        xx, yy, zz = x * x, y * y, z * z
        gx[9], gy[9] = 6 * c3[0] * x * y, c3[0] * (3 * xx - 3 * yy)
        gx[10], gy[10], gz[10] = c3[1] * y * z, c3[1] * x * z, c3[1] * x * y
        gx[11], gy[11], gz[11] = -2 * c3[2] * x * y, c3[2] * (4 * zz - xx - 3 * yy), 8 * c3[2] * y * z
        gx[12], gy[12], gz[12] = -6 * c3[3] * x * z, -6 * c3[3] * y * z, c3[3] * (6 * zz - 3 * xx - 3 * yy)
        gx[13], gy[13], gz[13] = c3[4] * (4 * zz - 3 * xx - yy), -2 * c3[4] * x * y, 8 * c3[4] * x * z
        gx[14], gy[14], gz[14] = 2 * c3[5] * x * z, -2 * c3[5] * y * z, c3[5] * (xx - yy)
        gx[15], gy[15] = c3[6] * (3 * xx - 3 * yy), -6 * c3[6] * x * y


@njit(cache=True, nogil=True, inline="always")
def _camera_terms(m, R, t, cam, n):  # pragma: no cover - compiled
    """Camera point, safe depth zs, in-front flag, clamped tangents and their in-range flags."""
    px = R[0, 0] * m[n, 0] + R[0, 1] * m[n, 1] + R[0, 2] * m[n, 2] + t[0]
    py = R[1, 0] * m[n, 0] + R[1, 1] * m[n, 1] + R[1, 2] * m[n, 2] + t[1]
    pz = R[2, 0] * m[n, 0] + R[2, 1] * m[n, 1] + R[2, 2] * m[n, 2] + t[2]
    front = pz > cam[8]
    zs = pz if front else 1.0
    xz, yz = px / zs, py / zs
    cxz = min(max(xz, -cam[5]), cam[4])
    cyz = min(max(yz, -cam[7]), cam[6])
    in_x = -cam[5] < xz < cam[4]
    in_y = -cam[7] < yz < cam[6]
    return px, py, pz, front, zs, cxz, cyz, in_x, in_y


@njit(cache=True, nogil=True, inline="always")
def _covariance(quats, scales, n, R, fx, fy, zs, cxz, cyz, T, M, S):  # pragma: no cover - compiled
    """T = J R [2,3], M = Rq diag(s) [3,3], S = M M^T; returns the quaternion parts, norm, Rq."""
    w, x, y, z, qn, rq = _rotation(quats[n, 0], quats[n, 1], quats[n, 2], quats[n, 3])
    j00, j02 = fx / zs, -fx * cxz / zs
    j11, j12 = fy / zs, -fy * cyz / zs
    for j in range(3):
        T[0, j] = j00 * R[0, j] + j02 * R[2, j]
        T[1, j] = j11 * R[1, j] + j12 * R[2, j]
    for i in range(3):
        for j in range(3):
            M[i, j] = rq[3 * i + j] * scales[n, j]
    for i in range(3):
        for j in range(3):
            S[i, j] = M[i, 0] * M[j, 0] + M[i, 1] * M[j, 1] + M[i, 2] * M[j, 2]
    return w, x, y, z, qn, rq


@njit(cache=True, nogil=True, inline="always")
def _cov2(T, S):  # pragma: no cover - compiled
    """Entries (0,0), (0,1), (1,1) of T S T^T."""
    c00 = 0.0
    c01 = 0.0
    c11 = 0.0
    for i in range(3):
        for j in range(3):
            c00 += T[0, i] * S[i, j] * T[0, j]
            c01 += T[0, i] * S[i, j] * T[1, j]
            c11 += T[1, i] * S[i, j] * T[1, j]
    return c00, c01, c11


@njit(parallel=True, cache=True, nogil=True)
def _forward(means, quats, scales, opac, sh, k, R, t, cam, campos, width, height, c2, c3,
             means2d, depths, conics, rgb, cutoff, extents, visible, radii):  # pragma: no cover - compiled
    fx, fy, cx, cy, eps = cam[0], cam[1], cam[2], cam[3], cam[9]
    for n in prange(means.shape[0]):
        T = np.empty((2, 3))
        M = np.empty((3, 3))
        S = np.empty((3, 3))
        basis = np.empty(16)
        px, py, pz, front, zs, cxz, cyz, _, _ = _camera_terms(means, R, t, cam, n)
        u = fx * px / zs + cx
        v = fy * py / zs + cy
        _covariance(quats, scales, n, R, fx, fy, zs, cxz, cyz, T, M, S)
        c00, c01, c11 = _cov2(T, S)
        a, b, c = c00 + eps, c01, c11 + eps
        det = a * c - b * b
        ok_det = det > 0
        ds = det if ok_det else 1.0
        means2d[n, 0], means2d[n, 1], depths[n] = u, v, pz
        conics[n, 0], conics[n, 1], conics[n, 2] = c / ds, -b / ds, a / ds
        # colour along the direction from the camera
        dx, dy, dz = means[n, 0] - campos[0], means[n, 1] - campos[1], means[n, 2] - campos[2]
        dn = max(math.sqrt(dx * dx + dy * dy + dz * dz), 1e-12)
        _sh_basis(dx / dn, dy / dn, dz / dn, k, c2, c3, basis)
        for ch in range(3):
            acc = 0.0
            for j in range(k):
                acc += basis[j] * sh[n, j, ch]
            rgb[n, ch] = max(acc + 0.5, 0.0)
        # support (no gradient): 3-sigma ellipse or alpha >= 1/255, its box, visibility
        o = opac[n]
        if o >= ALPHA_MIN:
            cut = max(-math.log(max(o / ALPHA_MIN, 1e-30)), -0.5 * SIGMA_CUTOFF ** 2)
            reach = math.sqrt(max(-2.0 * cut, 0.0))
        else:
            cut, reach = math.inf, 0.0
        cutoff[n] = cut
        ex = reach * math.sqrt(max(a, 0.0)) * (1.0 + 1e-4) + 1e-4
        ey = reach * math.sqrt(max(c, 0.0)) * (1.0 + 1e-4) + 1e-4
        on = (u + ex >= 0 and u - ex <= width - 1 and v + ey >= 0 and v - ey <= height - 1
              and math.ceil(u - ex) <= math.floor(u + ex) and math.ceil(v - ey) <= math.floor(v + ey))
        vis = front and ok_det and o >= ALPHA_MIN and on
        visible[n] = vis
        extents[n, 0], extents[n, 1] = (ex, ey) if vis else (0.0, 0.0)
        radii[n] = int(math.ceil(max(ex, ey))) if vis else 0


@njit(parallel=True, cache=True, nogil=True)
def _backward(means, quats, scales, sh, k, R, t, cam, campos, c2, c3, g_m2d, g_depth, g_conic, g_rgb,
              g_means, g_quats, g_scales, g_sh):  # pragma: no cover - compiled
    fx, fy, eps = cam[0], cam[1], cam[9]
    for n in prange(means.shape[0]):
        T = np.empty((2, 3))
        M = np.empty((3, 3))
        S = np.empty((3, 3))
        gS = np.empty((3, 3))
        gM = np.empty((3, 3))
        basis = np.empty(16)
        bx, by, bz = np.empty(16), np.empty(16), np.empty(16)
        px, py, pz, front, zs, cxz, cyz, in_x, in_y = _camera_terms(means, R, t, cam, n)
        w, x, y, z, qn, rq = _covariance(quats, scales, n, R, fx, fy, zs, cxz, cyz, T, M, S)
        c00, c01, c11 = _cov2(T, S)
        a, b, c = c00 + eps, c01, c11 + eps
        det = a * c - b * b
        gA, gB, gC = g_conic[n, 0], g_conic[n, 1], g_conic[n, 2]
        if det > 0:
            d2 = det * det
            ga = (-c * c * gA + b * c * gB - b * b * gC) / d2
            gb = (2 * b * c * gA - (det + 2 * b * b) * gB + 2 * a * b * gC) / d2
            gc = (-b * b * gA + a * b * gB - a * a * gC) / d2
        else:  # conic = (c, -b, a)
            ga, gb, gc = gC, -gB, gA
        g00, g01, g11 = ga, 0.5 * gb, gc  # symmetric gradient of the 2D covariance
        # d T = 2 G T S, d S = T^T G T
        gT = np.empty((2, 3))
        for j in range(3):
            ts0 = T[0, 0] * S[0, j] + T[0, 1] * S[1, j] + T[0, 2] * S[2, j]
            ts1 = T[1, 0] * S[0, j] + T[1, 1] * S[1, j] + T[1, 2] * S[2, j]
            gT[0, j] = 2 * (g00 * ts0 + g01 * ts1)
            gT[1, j] = 2 * (g01 * ts0 + g11 * ts1)
        for i in range(3):
            for j in range(3):
                gS[i, j] = (T[0, i] * (g00 * T[0, j] + g01 * T[1, j]) + T[1, i] * (g01 * T[0, j] + g11 * T[1, j]))
        for i in range(3):  # d M = 2 dS M (dS symmetric)
            for j in range(3):
                gM[i, j] = 2 * (gS[i, 0] * M[0, j] + gS[i, 1] * M[1, j] + gS[i, 2] * M[2, j])
        g_r = np.empty(9)
        for j in range(3):
            g_scales[n, j] = gM[0, j] * rq[j] + gM[1, j] * rq[3 + j] + gM[2, j] * rq[6 + j]
            for i in range(3):
                g_r[3 * i + j] = gM[i, j] * scales[n, j]
        gw = 2 * (-z * g_r[1] + y * g_r[2] + z * g_r[3] - x * g_r[5] - y * g_r[6] + x * g_r[7])
        gx = 2 * (y * g_r[1] + z * g_r[2] + y * g_r[3] - 2 * x * g_r[4] - w * g_r[5] + z * g_r[6]
                  + w * g_r[7] - 2 * x * g_r[8])
        gy = 2 * (-2 * y * g_r[0] + x * g_r[1] + w * g_r[2] + x * g_r[3] + z * g_r[5] - w * g_r[6]
                  + z * g_r[7] - 2 * y * g_r[8])
        gz = 2 * (-2 * z * g_r[0] - w * g_r[1] + x * g_r[2] + w * g_r[3] - 2 * z * g_r[4] + y * g_r[5]
                  + x * g_r[6] + y * g_r[7])
        dot = w * gw + x * gx + y * gy + z * gz
        g_quats[n, 0] = (gw - w * dot) / qn
        g_quats[n, 1] = (gx - x * dot) / qn
        g_quats[n, 2] = (gy - y * dot) / qn
        g_quats[n, 3] = (gz - z * dot) / qn
        # d J = dT R^T; J = [[fx/zs, 0, -fx cxz/zs], [0, fy/zs, -fy cyz/zs]]
        gj00 = gT[0, 0] * R[0, 0] + gT[0, 1] * R[0, 1] + gT[0, 2] * R[0, 2]
        gj02 = gT[0, 0] * R[2, 0] + gT[0, 1] * R[2, 1] + gT[0, 2] * R[2, 2]
        gj11 = gT[1, 0] * R[1, 0] + gT[1, 1] * R[1, 1] + gT[1, 2] * R[1, 2]
        gj12 = gT[1, 0] * R[2, 0] + gT[1, 1] * R[2, 1] + gT[1, 2] * R[2, 2]
        zs2 = zs * zs
        fin_x = 1.0 if in_x else 0.0
        fin_y = 1.0 if in_y else 0.0
        gu, gv = g_m2d[n, 0], g_m2d[n, 1]
        gpx = gu * fx / zs - gj02 * fx * fin_x / zs2
        gpy = gv * fy / zs - gj12 * fy * fin_y / zs2
        gpz = g_depth[n]
        if front:
            gpz += (-gu * fx * px / zs2 - gv * fy * py / zs2 - gj00 * fx / zs2 - gj11 * fy / zs2
                    + gj02 * fx * (fin_x * px / zs + cxz) / zs2 + gj12 * fy * (fin_y * py / zs + cyz) / zs2)
        for j in range(3):
            g_means[n, j] = R[0, j] * gpx + R[1, j] * gpy + R[2, j] * gpz
        # colour: d sh, and d direction -> d means
        dx, dy, dz = means[n, 0] - campos[0], means[n, 1] - campos[1], means[n, 2] - campos[2]
        dn = max(math.sqrt(dx * dx + dy * dy + dz * dz), 1e-12)
        ux, uy, uz = dx / dn, dy / dn, dz / dn
        _sh_basis(ux, uy, uz, k, c2, c3, basis)
        _sh_basis_grad(ux, uy, uz, k, c2, c3, bx, by, bz)
        gux = 0.0
        guy = 0.0
        guz = 0.0
        for ch in range(3):
            acc = 0.0
            for j in range(k):
                acc += basis[j] * sh[n, j, ch]
            g = g_rgb[n, ch] if acc + 0.5 >= 0.0 else 0.0
            for j in range(k):
                g_sh[n, j, ch] = basis[j] * g
                gux += sh[n, j, ch] * g * bx[j]
                guy += sh[n, j, ch] * g * by[j]
                guz += sh[n, j, ch] * g * bz[j]
        udot = ux * gux + uy * guy + uz * guz
        g_means[n, 0] += (gux - ux * udot) / dn
        g_means[n, 1] += (guy - uy * udot) / dn
        g_means[n, 2] += (guz - uz * udot) / dn


def _camera(K: Tensor, viewmat: Tensor, width: int, height: int, near: float, eps2d: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rotation, translation, packed intrinsics/limits (as geometry.project) and camera centre, float64."""
    V = viewmat.detach().double().numpy()
    k = K.detach().double().numpy()
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    cam = np.array([fx, fy, cx, cy, (width - cx) / fx + 0.3 * tan_x, cx / fx + 0.3 * tan_x,
                    (height - cy) / fy + 0.3 * tan_y, cy / fy + 0.3 * tan_y, near, eps2d])
    R, t = np.ascontiguousarray(V[:3, :3]), np.ascontiguousarray(V[:3, 3])
    return R, t, cam, -(R.T @ t)


class _ProjectShade(torch.autograd.Function):
    """(means, quats, scales, sh) -> means2d, depths, conics, rgb; the support fields ride along."""

    @staticmethod
    def forward(ctx, means: Tensor, quats: Tensor, scales: Tensor, sh: Tensor, opacities: Tensor,
                degree: int, K: Tensor, viewmat: Tensor, width: int, height: int, near: float, eps2d: float):
        n, k = means.shape[0], (degree + 1) ** 2
        arrays = [x.detach().contiguous().numpy() for x in (means, quats, scales, sh, opacities)]
        R, t, cam, campos = _camera(K, viewmat, width, height, near, eps2d)
        dt = arrays[0].dtype
        means2d, depths, conics = np.empty((n, 2), dt), np.empty(n, dt), np.empty((n, 3), dt)
        rgb, cutoff, extents = np.empty((n, 3), dt), np.empty(n, dt), np.empty((n, 2), dt)
        visible, radii = np.empty(n, np.bool_), np.empty(n, np.int32)
        match_numba_threads()
        _forward(arrays[0], arrays[1], arrays[2], arrays[4], arrays[3], k, R, t, cam, campos, width, height,
                 _C2, _C3, means2d, depths, conics, rgb, cutoff, extents, visible, radii)
        ctx.state = (arrays, k, R, t, cam, campos)
        support = tuple(torch.from_numpy(x) for x in (cutoff, extents, visible, radii))
        ctx.mark_non_differentiable(*support)
        return (torch.from_numpy(means2d), torch.from_numpy(depths), torch.from_numpy(conics),
                torch.from_numpy(rgb), *support)

    @staticmethod
    def backward(ctx, g_m2d, g_depth, g_conic, g_rgb, *_unused):
        arrays, k, R, t, cam, campos = ctx.state
        dt = torch.from_numpy(arrays[0][:0]).dtype

        def grad(g: Tensor | None, shape: tuple[int, ...]) -> np.ndarray:
            return np.zeros(shape, arrays[0].dtype) if g is None else g.detach().to(dt).contiguous().numpy()

        n = arrays[0].shape[0]
        g_means, g_quats = np.empty((n, 3), arrays[0].dtype), np.empty((n, 4), arrays[0].dtype)
        g_scales = np.empty((n, 3), arrays[0].dtype)
        g_sh = np.zeros(arrays[3].shape, arrays[0].dtype)
        match_numba_threads()
        _backward(arrays[0], arrays[1], arrays[2], arrays[3], k, R, t, cam, campos, _C2, _C3,
                  grad(g_m2d, (n, 2)), grad(g_depth, (n,)), grad(g_conic, (n, 3)), grad(g_rgb, (n, 3)),
                  g_means, g_quats, g_scales, g_sh)
        return (torch.from_numpy(g_means), torch.from_numpy(g_quats), torch.from_numpy(g_scales),
                torch.from_numpy(g_sh), None, None, None, None, None, None, None, None)


def project_shade(means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, sh: Tensor, degree: int,
                  K: Tensor, viewmat: Tensor, width: int, height: int, near: float = 0.01,
                  eps2d: float = EPS_2D) -> tuple[Projection, Tensor]:
    """geometry.project(...) and sh.eval_sh(degree, sh, means - camera centre) in one compiled pass."""
    means2d, depths, conics, rgb, cutoff, extents, visible, radii = _ProjectShade.apply(
        means, quats, scales, sh, opacities, degree, K, viewmat, width, height, near, eps2d)
    proj = Projection(means2d=means2d, depths=depths, conics=conics, cutoff=cutoff, extents=extents,
                      visible=visible, radii=radii)
    return proj, rgb
