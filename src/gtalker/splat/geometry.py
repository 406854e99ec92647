"""Projection of 3D Gaussians to screen-space 2D Gaussians (EWA splatting, as in 3DGS).

Conventions: world-to-camera `viewmat` in OpenCV axes (x right, y down, z forward); intrinsics `K` in
pixels with the centre of pixel (row i, column j) at (j, i). A 0.3 px^2 low-pass is added to every 2D
covariance (3DGS's dilation), and the Jacobian's x/z, y/z are clamped to 1.3x the field of view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

ALPHA_MIN = 1.0 / 255.0    # a Gaussian is skipped at a pixel where its alpha is below this
ALPHA_MAX = 0.99           # alpha clamp
SIGMA_CUTOFF = 3.0         # support: Mahalanobis distance <= 3 (the 3-sigma ellipse)
EPS_2D = 0.3               # screen-space dilation (px^2)


@dataclass
class Projection:
    """Screen-space Gaussians for one camera (N = all input Gaussians, culled ones flagged)."""

    means2d: Tensor   # [N, 2] projected centres (px)
    depths: Tensor    # [N] camera-space z
    conics: Tensor    # [N, 3] inverse 2D covariance (a, b, c): d^T [[a, b], [b, c]] d
    cutoff: Tensor    # [N] minimum `power` (= -0.5 Mahalanobis^2) of the support (no grad)
    extents: Tensor   # [N, 2] half width/height (px) of the support's bounding box (no grad)
    visible: Tensor   # [N] bool: in front of the near plane, opacity >= 1/255, box overlaps the image
    radii: Tensor     # [N] int32 pixel radius of the support box, 0 = culled


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Rotation matrices [N, 3, 3] of quaternions (w, x, y, z) [N, 4], normalised here."""
    q = quats / quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(-1, 3, 3)


def covariance_3d(quats: Tensor, scales: Tensor) -> Tensor:
    """World-space covariances R S S^T R^T [N, 3, 3] from quaternions and linear scales."""
    m = quat_to_rotmat(quats) * scales.unsqueeze(-2)
    return m @ m.transpose(-1, -2)


def camera_center(viewmat: Tensor) -> Tensor:
    """World position [3] of the camera of a world-to-camera matrix."""
    rot, t = viewmat[:3, :3], viewmat[:3, 3]
    return -(rot.transpose(0, 1) @ t)


def support_cutoff(opacities: Tensor) -> Tensor:
    """Lowest `power` at which a Gaussian still counts: the 3-sigma ellipse or alpha >= 1/255.

    alpha = o exp(power) >= 1/255  <=>  power >= -ln(255 o); Gaussians with o < 1/255 get +inf.
    """
    o = opacities.detach()
    alpha_cut = -torch.log((o / ALPHA_MIN).clamp_min(1e-30))
    cut = torch.maximum(alpha_cut, torch.full_like(o, -0.5 * SIGMA_CUTOFF ** 2))
    return torch.where(o >= ALPHA_MIN, cut, torch.full_like(o, math.inf))


def project(means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, K: Tensor, viewmat: Tensor,
            width: int, height: int, near: float = 0.01, eps2d: float = EPS_2D) -> Projection:
    """Project Gaussians into a camera: centres, depths, conics and the support box of each."""
    rot, t = viewmat[:3, :3], viewmat[:3, 3]
    p = means @ rot.transpose(0, 1) + t
    x, y, z = p.unbind(-1)
    in_front = z > near
    zs = torch.where(in_front, z, torch.ones_like(z))
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    u = fx * x / zs + cx
    v = fy * y / zs + cy
    means2d = torch.stack([u, v], dim=-1)

    # Jacobian of the perspective projection, tangents clamped to 1.3x the field of view.
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    lim_xp, lim_xn = (width - cx) / fx + 0.3 * tan_x, cx / fx + 0.3 * tan_x
    lim_yp, lim_yn = (height - cy) / fy + 0.3 * tan_y, cy / fy + 0.3 * tan_y
    tx = torch.minimum(torch.maximum(x / zs, -lim_xn), lim_xp) * zs
    ty = torch.minimum(torch.maximum(y / zs, -lim_yn), lim_yp) * zs
    zero = torch.zeros_like(zs)
    jac = torch.stack([fx / zs, zero, -fx * tx / (zs * zs),
                       zero, fy / zs, -fy * ty / (zs * zs)], dim=-1).reshape(-1, 2, 3)
    tmat = jac @ rot  # [N, 2, 3]
    cov3 = covariance_3d(quats, scales)
    cov2 = tmat @ cov3 @ tmat.transpose(-1, -2)
    a = cov2[:, 0, 0] + eps2d
    b = cov2[:, 0, 1]
    c = cov2[:, 1, 1] + eps2d
    det = a * c - b * b
    ok_det = det > 0
    det_safe = torch.where(ok_det, det, torch.ones_like(det))
    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], dim=-1)

    with torch.no_grad():
        cutoff = support_cutoff(opacities)
        finite = torch.isfinite(cutoff)
        reach = torch.sqrt((-2.0 * cutoff).clamp_min(0.0)).where(finite, torch.zeros_like(cutoff))
        margin = 1.0 + 1e-4
        ext_x = reach * torch.sqrt(a.detach().clamp_min(0.0)) * margin + 1e-4
        ext_y = reach * torch.sqrt(c.detach().clamp_min(0.0)) * margin + 1e-4
        ud, vd = u.detach(), v.detach()
        on_screen = ((ud + ext_x >= 0) & (ud - ext_x <= width - 1) & (vd + ext_y >= 0)
                     & (vd - ext_y <= height - 1)
                     & (torch.ceil(ud - ext_x) <= torch.floor(ud + ext_x))
                     & (torch.ceil(vd - ext_y) <= torch.floor(vd + ext_y)))
        visible = in_front & ok_det & finite & on_screen
        extents = torch.stack([ext_x, ext_y], dim=-1) * visible.unsqueeze(-1)
        radii = torch.ceil(torch.maximum(ext_x, ext_y)).to(torch.int32) * visible
    return Projection(means2d=means2d, depths=z, conics=conics, cutoff=cutoff, extents=extents,
                      visible=visible, radii=radii.to(torch.int32))
