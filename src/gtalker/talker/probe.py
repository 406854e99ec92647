"""How the deformation responds to each condition (method.md section 6, critique 2: disentanglement).

- `token_jacobian_norms`: Frobenius norm of the Jacobian of the deformation output (all offsets, the
  position offsets in world units) with respect to each condition token, over a set of Gaussians
  (e.g. the mouth's and the rest), by forward-mode autograd: exact (one product per token coordinate)
  or estimated from random probes (E|Jv|^2 = |J|_F^2 for v ~ N(0, I)).
- `swap_response`: RMS change of the offsets of a set of Gaussians when some inputs of each frame (eye
  and view, or audio) are replaced by those of another frame, everything else kept.
- `mouth_gaussians`: the Gaussians whose canonical centre projects into the lip box in most views.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from gtalker.talker.model import Conditions, TalkingHead

SWAP_GROUPS = {"audio": ("audio",), "eye_view": ("blink", "viewmat")}


def _flat_offsets(model: TalkingHead, query: Tensor, tokens: Tensor) -> Tensor:
    """Offsets [B,N,K] of `tokens` [B,T,d] (position offsets scaled to world units as in `deformed`)."""
    deform = model.deform
    offsets, _ = deform.deformer.decode(query, tokens)
    if "means" in offsets:
        offsets = {**offsets, "means": offsets["means"] * deform.extent}
    b, n = tokens.shape[0], query.shape[0]
    return torch.cat([v.reshape(b, n, -1) for v in offsets.values()], dim=-1)


def condition_tokens(model: TalkingHead, cond: Conditions) -> Tensor:
    """The condition tokens [B,T,d] of a batch (inference: no condition dropout)."""
    with torch.no_grad():
        return model.deform.deformer.tokens(cond.audio, cond.blink, cond.viewmat)


def _jvp(model: TalkingHead, query: Tensor, tokens: Tensor, tangents: Tensor) -> Tensor:
    """J v for tokens [B,T,d] and tangents [B,T,d] (forward-mode autograd) -> [B,N,K]."""
    import torch.autograd.forward_ad as fwad

    with torch.no_grad(), fwad.dual_level():
        out = _flat_offsets(model, query, fwad.make_dual(tokens, tangents))
        return fwad.unpack_dual(out).tangent


def token_jacobian_norms(model: TalkingHead, cond: Conditions, masks: dict[str, Tensor],
                         probes: int = 0, seed: int = 0, chunk: int = 16) -> dict[str, dict[str, float]]:
    """{token: {mask name: |J|_F / sqrt(n Gaussians in the mask)}}, averaged (RMS) over the frames.

    J = d offsets[mask] / d token, per frame (one frame's offsets depend only on its own tokens).
    `probes` 0: exact (d products per token); > 0: that many random probes per token and frame.
    The directions of one frame go through the network as a batch of `chunk`.
    """
    model.eval()
    _, query = model.canonical_inputs()
    tokens = condition_tokens(model, cond)
    b, t, d = tokens.shape
    gen = torch.Generator(device="cpu").manual_seed(seed)
    sums = {name: {m: 0.0 for m in masks} for name in model.cfg.tokens}
    for i, name in enumerate(model.cfg.tokens):
        for frame in range(b):
            if probes > 0:
                directions = torch.randn(probes, d, generator=gen).to(tokens)
            else:
                directions = torch.eye(d, dtype=tokens.dtype, device=tokens.device)
            for lo in range(0, len(directions), chunk):
                v = directions[lo:lo + chunk]
                tangents = torch.zeros(len(v), t, d, dtype=tokens.dtype, device=tokens.device)
                tangents[:, i] = v
                jv = _jvp(model, query, tokens[frame:frame + 1].expand(len(v), t, d).clone(), tangents)
                sq = jv.square().sum(-1)                               # [chunk,N]
                for m, mask in masks.items():
                    sums[name][m] += float(sq[:, mask].sum()) / (probes if probes > 0 else 1)
    return {name: {m: math.sqrt(sums[name][m] / (b * max(int(mask.sum()), 1)))
                   for m, mask in masks.items()} for name in model.cfg.tokens}


def swapped(cond: Conditions, perm: Sequence[int], group: str) -> Conditions:
    """`cond` with the inputs of `group` ('audio' or 'eye_view') of frame b taken from frame perm[b]."""
    if group not in SWAP_GROUPS:
        raise ValueError(f"swap group '{group}' unknown; choose one of {sorted(SWAP_GROUPS)}")
    idx = torch.as_tensor(list(perm), dtype=torch.long, device=cond.audio.device)
    parts = {"audio": cond.audio, "blink": cond.blink, "viewmat": cond.viewmat}
    for key in SWAP_GROUPS[group]:
        parts[key] = parts[key][idx]
    return Conditions(**parts)


def swap_response(model: TalkingHead, cond: Conditions, perm: Sequence[int], group: str,
                  masks: dict[str, Tensor]) -> dict[str, float]:
    """{mask name: RMS over frames and Gaussians of |offsets(swapped) - offsets(cond)|} (world units
    for positions, raw units for the other attributes)."""
    model.eval()
    _, query = model.canonical_inputs()
    with torch.no_grad():
        base = _flat_offsets(model, query, condition_tokens(model, cond))
        moved = _flat_offsets(model, query, condition_tokens(model, swapped(cond, perm, group)))
    sq = (moved - base).square().sum(-1)                               # [B,N]
    return {m: math.sqrt(float(sq[:, mask].mean())) if bool(mask.any()) else 0.0 for m, mask in masks.items()}


def mouth_gaussians(means: Tensor, K: Tensor, viewmats: Tensor, lip_boxes: Tensor,
                    share: float = 0.5) -> Tensor:
    """[N] bool: centres [N,3] that project (K [3,3] or [V,3,3], world->camera viewmats [V,4,4]) into
    the lip box [V,4] (x0, y0, x1, y1) in at least `share` of the V views."""
    K = K.expand(viewmats.shape[0], 3, 3) if K.dim() == 2 else K
    cam = torch.einsum("vij,nj->vni", viewmats[:, :3, :3], means) + viewmats[:, None, :3, 3]
    uvw = torch.einsum("vij,vnj->vni", K, cam)
    uv = uvw[..., :2] / uvw[..., 2:].clamp_min(1e-9)
    box = lip_boxes.to(uv)[:, None, :]
    inside = ((uv[..., 0] >= box[..., 0]) & (uv[..., 0] < box[..., 2]) & (uv[..., 1] >= box[..., 1])
              & (uv[..., 1] < box[..., 3]) & (uvw[..., 2] > 0))
    return inside.float().mean(0) >= share
