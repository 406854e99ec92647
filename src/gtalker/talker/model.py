"""TalkingHead = canonical Gaussians (CanonicalHead) + the audio-driven deformation; render, save, load."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gtalker.camera import scale_intrinsics
from gtalker.canonical.model import CanonicalHead
from gtalker.common import InputError, atomic_path
from gtalker.splat.rasterize import RenderOutput, rasterize, rasterize_batch
from gtalker.talker.deform import DeformConfig, DeformationModel, feature_dim
from gtalker.talker.upsample import composite_upsampled

FORMAT = "gtalker-talker-v1"


@dataclass
class Conditions:
    """Per-frame conditions of a batch: audio windows [B,8,16,C], blink [B], viewmat [B,4,4]."""

    audio: Tensor
    blink: Tensor
    viewmat: Tensor

    def to(self, device: torch.device) -> "Conditions":
        return Conditions(self.audio.to(device).float(), self.blink.to(device).float(),
                          self.viewmat.to(device).float())


class TalkingHead(nn.Module):
    """Canonical head plus deformation. With the canonical head frozen (train_canonical False), its
    attributes and query features are computed once and cached.

    `fast_render` (default on) changes how, never what, inference renders: frame-independent query
    projections kept between frames, and below-size heads rasterised for the whole batch in one call and
    upsampled by two matrix products (gtalker.talker.upsample). Off, frames go one by one through
    F.interpolate and nothing is kept: the straightforward path benchmarks/render_speed.py compares
    against (same images to float rounding). Training is the same either way.
    """

    def __init__(self, canonical: CanonicalHead, cfg: DeformConfig, train_canonical: bool = False,
                 train_size: int | None = None) -> None:
        super().__init__()
        self.canonical = canonical
        self.train_canonical = train_canonical
        self.train_size = train_size  # square resolution the deformation was trained at
        with torch.no_grad():
            raw = canonical.raw_attributes()
            feats = canonical.features() if canonical.triplane is not None else None
        means = raw["means"].detach()
        center = means.mean(0)
        extent = float((means - center).norm(dim=1).quantile(0.9).clamp_min(1e-6))
        triplane_dim = feats.shape[1] if feats is not None else 0
        cfg.feature_dim = feature_dim(cfg.query, triplane_dim, cfg.posenc_freqs)
        shapes = {k: tuple(v.shape[1:]) for k, v in raw.items()}
        self.deform = DeformationModel(cfg, shapes, center, extent)
        self.cfg = cfg
        self._cache: dict[str, Any] | None = None
        self.offsets_finite = True
        for p in canonical.parameters():
            p.requires_grad_(train_canonical)
        self.fast_render = True

    @property
    def fast_render(self) -> bool:
        return self._fast_render

    @fast_render.setter
    def fast_render(self, on: bool) -> None:
        self._fast_render = bool(on)
        if hasattr(self.deform.deformer, "cache_queries"):
            self.deform.deformer.cache_queries = bool(on)

    @property
    def n_gaussians(self) -> int:
        return int(self.canonical_inputs()[0]["means"].shape[0])

    @property
    def sh_degree(self) -> int:
        return int(self.canonical.gaussians.active_sh_degree)

    def clear_cache(self) -> None:
        """Forget cached canonical values (call after changing the canonical head)."""
        self._cache = None

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> "TalkingHead":
        self._cache = None  # moved or cast: recompute the cache on the new device/dtype
        return super()._apply(fn, *args, **kwargs)

    def canonical_inputs(self) -> tuple[dict[str, Tensor], Tensor]:
        """Raw canonical attributes and query features; cached when the canonical head is frozen."""
        if self.train_canonical:
            raw = self.canonical.raw_attributes()
            feats = self.canonical.features() if self.canonical.triplane is not None else None
            return raw, self.deform.query_features(feats, raw["means"])
        if self._cache is None:
            with torch.no_grad():
                raw = {k: v.detach() for k, v in self.canonical.raw_attributes().items()}
                feats = self.canonical.features().detach() if self.canonical.triplane is not None else None
                self._cache = {"raw": raw, "query": self.deform.query_features(feats, raw["means"])}
        return self._cache["raw"], self._cache["query"]

    def deformed(self, cond: Conditions) -> tuple[list[dict[str, Tensor]], Tensor | None]:
        """Activated per-frame Gaussian attributes (list of B dicts) and attention [B,N,T]."""
        raw, query = self.canonical_inputs()
        offsets, attn = self.deform(query, cond.audio, cond.blink, cond.viewmat)
        # non-finite offsets may vanish from the image (the rasteriser culls NaN Gaussians): record them
        # (a sum is finite only if every term is: one reduction per attribute, no mask)
        self.offsets_finite = all(bool(torch.isfinite(v.detach().sum())) for v in offsets.values())
        frames = []
        per_frame = {k: v.unbind(0) for k, v in offsets.items()}  # one backward concatenation per attribute
        for b in range(cond.audio.shape[0]):
            moved = {k: (v + per_frame[k][b] if k in per_frame else v) for k, v in raw.items()}
            frames.append(CanonicalHead.activate(moved))
        return frames, attn

    def render_attributes(self, attrs: dict[str, Tensor], K: Tensor, viewmat: Tensor, width: int,
                          height: int, background: Tensor | None, backend: str = "auto",
                          colors: Tensor | None = None, filter_size: int | None = None) -> RenderOutput:
        """Rasterise one frame's activated attributes (optionally with flat `colors` [N,3]).

        `filter_size`: the square resolution the model was trained at; rendering larger than that
        widens every Gaussian so that it keeps its training-resolution footprint (see `training_filter`).
        """
        if filter_size is not None and width > filter_size:
            attrs = {**attrs, "scales": training_filter(attrs["means"], attrs["scales"], K, viewmat,
                                                        filter_size / width)}
        if colors is None:
            d = self.sh_degree
            sh = attrs["sh"][:, : (d + 1) ** 2]
            return rasterize(attrs["means"], attrs["quats"], attrs["scales"], attrs["opacities"], sh,
                             K, viewmat, width, height, background=background, sh_degree=d, backend=backend)
        return rasterize(attrs["means"], attrs["quats"], attrs["scales"], attrs["opacities"], colors,
                         K, viewmat, width, height, background=background, backend=backend)

    def render_upsampled(self, attrs: dict[str, Tensor], K: Tensor, viewmat: Tensor, size: int,
                         background: Tensor | None, inner: int, backend: str = "auto",
                         filter_size: int | None = None, colors: Tensor | None = None) -> Tensor:
        """[size,size,3]: the head rasterised at `inner` px, upsampled (bicubic, colour and alpha) and
        composited over the full-resolution background ([size,size,3] or [3]), which stays sharp."""
        K_inner = scale_intrinsics(K, inner / size)
        out = self.render_attributes(attrs, K_inner, viewmat, inner, inner, None, backend,
                                     colors=colors, filter_size=filter_size)
        if self.fast_render:
            return composite_upsampled(out.color[None], out.alpha[None], size, background)[0]
        rgba = torch.cat([out.color, out.alpha], dim=-1).permute(2, 0, 1).unsqueeze(0)
        up = F.interpolate(rgba, size=(size, size), mode="bicubic", align_corners=False)[0]
        up = up.permute(1, 2, 0).clamp(0, 1)
        color, alpha = up[..., :3], up[..., 3:]
        return color if background is None else color + (1 - alpha) * background

    def render_batch(self, cond: Conditions, K: Tensor, width: int, height: int,
                     background: Tensor | None, backend: str = "auto",
                     filter_size: int | None = None, inner_size: int | None = None
                     ) -> tuple[Tensor, Tensor | None]:
        """Images [B,H,W,3] for a batch (K [B,3,3], background [B,H,W,3] or None) and attention.

        `inner_size` < width (square frames only): rasterise at that size and upsample the head; else
        all the frames are rasterised in one call (rasterize_batch).
        """
        frames, attn = self.deformed(cond)
        if not (inner_size is not None and inner_size < width and width == height):
            return self.rasterize_frames(frames, K, cond.viewmat, width, height, background, backend,
                                         filter_size).color, attn
        if self.fast_render:  # the batch's heads in one rasteriser call, upsampled together
            K_inner = torch.stack([scale_intrinsics(k, inner_size / width) for k in K])
            out = self.rasterize_frames(frames, K_inner, cond.viewmat, inner_size, inner_size, None, backend,
                                        filter_size)
            return composite_upsampled(out.color, out.alpha, width, background), attn
        images = [self.render_upsampled(attrs, K[b], cond.viewmat[b], width,
                                        background[b] if background is not None else None, inner_size,
                                        backend, filter_size) for b, attrs in enumerate(frames)]
        return torch.stack(images), attn

    def rasterize_frames(self, frames: list[dict[str, Tensor]], K: Tensor, viewmats: Tensor, width: int,
                         height: int, background: Tensor | None, backend: str = "auto",
                         filter_size: int | None = None) -> RenderOutput:
        """The B frames' activated attributes rasterised in one call (rasterize_batch; fields [B,...])."""
        if filter_size is not None and width > filter_size:
            frames = [{**a, "scales": training_filter(a["means"], a["scales"], K[b], viewmats[b], filter_size / width)}
                      for b, a in enumerate(frames)]
        d = self.sh_degree

        def stack(key: str) -> Tensor:
            return torch.stack([a[key] for a in frames])

        sh = stack("sh")
        if sh.shape[2] > (d + 1) ** 2:  # sliced only when needed: a slice's backward fills a zero tensor
            sh = sh[:, :, : (d + 1) ** 2]
        return rasterize_batch(stack("means"), stack("quats"), stack("scales"), stack("opacities"),
                               sh, K, viewmats, width, height, background=background, sh_degree=d,
                               backend=backend)


def training_filter(means: Tensor, scales: Tensor, K: Tensor, viewmat: Tensor, ratio: float,
                    dilation: float = 0.3) -> Tensor:
    """Scales widened so that a model trained at `ratio` x the render resolution keeps its look.

    The rasteriser low-passes every Gaussian by `dilation` px^2 on screen; at the training resolution
    that was a wider blur in world units. Adding the difference as isotropic 3D variance,
    v = dilation z^2 (1/f_train^2 - 1/f^2) at camera depth z, renders at high resolution what the
    model showed at its training resolution (as Mip-Splatting's 3D filter), without the gaps and
    needles of Gaussians that were never seen that small.
    """
    focal = K[0, 0]
    focal_train = focal * ratio
    depth = means @ viewmat[2, :3] + viewmat[2, 3]
    extra = dilation * depth.square() * (1.0 / focal_train ** 2 - 1.0 / focal ** 2)
    return torch.sqrt(scales.square() + extra.clamp_min(0).unsqueeze(-1))


def save(model: TalkingHead, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> None:
    """Write the full model (canonical bytes + deformation state + configs) atomically."""
    with tempfile.TemporaryDirectory() as tmpdir:
        canon_file = Path(tmpdir) / "head.pt"
        model.canonical.save(canon_file)
        canonical_bytes = canon_file.read_bytes()
    payload = {
        "format": FORMAT,
        "canonical_bytes": canonical_bytes,
        "deform_config": model.cfg.to_dict(),
        "deform_state": {k: v.detach().cpu() for k, v in model.deform.state_dict().items()},
        "train_canonical": model.train_canonical,
        "train_size": model.train_size,
        "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> TalkingHead:
    """Load a model written by `save`; InputError names the file when it is missing or foreign."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: talker model not found; run the rule train_talker")
    payload = torch.load(p, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{p}: not a gtalker talker model; delete it and rerun train_talker")
    with tempfile.TemporaryDirectory() as tmpdir:
        canon_file = Path(tmpdir) / "head.pt"
        canon_file.write_bytes(payload["canonical_bytes"])
        canonical = CanonicalHead.load(canon_file, map_location="cpu")
    cfg = DeformConfig.from_dict(payload["deform_config"])
    model = TalkingHead(canonical, cfg, train_canonical=payload.get("train_canonical", False),
                        train_size=payload.get("train_size"))
    model.deform.load_state_dict(payload["deform_state"])
    model.extra = payload.get("extra", {})
    return model.to(map_location)
