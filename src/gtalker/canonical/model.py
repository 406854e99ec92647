"""CanonicalHead: the canonical Gaussians, and (method.md §2) a tri-plane + MLPs for opacity and colour.

With `triplane` on, positions/scales/rotations are free per-Gaussian parameters and opacity and SH colour
are predicted from the tri-plane feature of each Gaussian's canonical position; with it off, opacity
and SH are plain per-Gaussian parameters too (the ablation switch).
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from torch import Tensor, nn

from gtalker.common import InputError, atomic_path
from gtalker.splat.gaussians import GaussianModel
from gtalker.splat.rasterize import RenderOutput, rasterize
from gtalker.splat.sh import MAX_SH_DEGREE, num_sh_bases
from gtalker.canonical.triplane import TriPlane

FORMAT = "gtalker.canonical.head/1"


def mlp(in_dim: int, hidden: int, out_dim: int, last_scale: float = 0.1) -> nn.Sequential:
    """Two-layer ReLU MLP whose last layer starts small."""
    net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                        nn.Linear(hidden, out_dim))
    with torch.no_grad():
        net[-1].weight.mul_(last_scale)
        net[-1].bias.zero_()
    return net


class CanonicalHead(nn.Module):
    """Canonical Gaussians (+ tri-plane appearance networks). See the module docstring."""

    def __init__(self, gaussians: GaussianModel, triplane: TriPlane | None = None, hidden: int = 64,
                 init_opacity: float = 0.1) -> None:
        super().__init__()
        self.gaussians = gaussians
        self.triplane = triplane
        self.hidden = hidden
        self.n_sh = num_sh_bases(MAX_SH_DEGREE)
        if triplane is not None:
            self.opacity_mlp = mlp(triplane.out_dim, hidden, 1)
            self.color_mlp = mlp(triplane.out_dim, hidden, self.n_sh * 3)
            with torch.no_grad():
                self.opacity_mlp[-1].bias.fill_(math.log(init_opacity / (1 - init_opacity)))
        else:
            self.opacity_mlp = None
            self.color_mlp = None

    # ----- construction / config --------------------------------------------------------------------
    @classmethod
    def from_points(cls, points: Tensor, colors: Tensor | None = None, triplane: bool = True,
                    channels: int = 32, resolutions: tuple[int, ...] = (64, 128), hidden: int = 64,
                    init_opacity: float = 0.1, max_sh_degree: int = MAX_SH_DEGREE) -> "CanonicalHead":
        """A head initialised from a point cloud (scales from 3-NN distances)."""
        g = GaussianModel.from_points(points, colors, opacity=init_opacity, max_sh_degree=max_sh_degree)
        tp = TriPlane.around(points.float(), channels=channels, resolutions=resolutions) if triplane else None
        head = cls(g, tp, hidden=hidden, init_opacity=init_opacity)
        if tp is not None and colors is not None:
            with torch.no_grad():  # start the colour network at the points' mean colour
                head.color_mlp[-1].bias[:3].copy_(g.sh_dc[:, 0].mean(dim=0))
        return head

    def config(self) -> dict[str, Any]:
        """What `load` needs to rebuild the modules."""
        cfg: dict[str, Any] = {"triplane": self.triplane is not None, "hidden": self.hidden,
                               "max_sh_degree": self.gaussians.max_sh_degree}
        if self.triplane is not None:
            cfg.update(channels=self.triplane.channels, resolutions=list(self.triplane.resolutions),
                       bounds_min=self.triplane.bounds_min.tolist(), bounds_max=self.triplane.bounds_max.tolist())
        return cfg

    # ----- the agreed API ---------------------------------------------------------------------------
    def features(self) -> Tensor:
        """Tri-plane features [N, 64] of the Gaussians' normalised canonical positions."""
        if self.triplane is None:
            raise RuntimeError("this CanonicalHead has no tri-plane (trained with canonical.triplane: false)")
        return self.triplane(self.gaussians.means)

    def raw_attributes(self) -> dict[str, Tensor]:
        """Pre-activation attributes: means, log_scales, quats, opacity_logits [N], sh [N,16,3]."""
        g = self.gaussians
        raw = {"means": g.means, "log_scales": g.log_scales, "quats": g.quats}
        if self.triplane is not None:
            f = self.features()
            raw["opacity_logits"] = self.opacity_mlp(f).squeeze(-1)
            raw["sh"] = self.color_mlp(f).reshape(-1, self.n_sh, 3)
        else:
            raw["opacity_logits"] = g.opacity_logits
            raw["sh"] = g.sh()
        return raw

    def opacities(self) -> Tensor:
        """Activated opacities [N] of the Gaussians (from the tri-plane networks when there are some)."""
        return torch.sigmoid(self.raw_attributes()["opacity_logits"])

    @staticmethod
    def activate(raw: dict[str, Tensor]) -> dict[str, Tensor]:
        """means, scales = exp(log_scales), quats normalised, opacities = sigmoid(logits), sh."""
        q = raw["quats"]
        return {"means": raw["means"], "scales": torch.exp(raw["log_scales"]),
                "quats": q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12),
                "opacities": torch.sigmoid(raw["opacity_logits"]), "sh": raw["sh"]}

    def render(self, K: Tensor, viewmat: Tensor, width: int, height: int, background: Tensor | None = None,
               backend: str = "auto", attrs: dict[str, Tensor] | None = None) -> RenderOutput:
        """Rasterise the (activated) head, with the current active SH degree."""
        a = attrs if attrs is not None else self.activate(self.raw_attributes())
        return rasterize(a["means"], a["quats"], a["scales"], a["opacities"], a["sh"], K, viewmat, width, height,
                         background=background, sh_degree=self.gaussians.active_sh_degree, backend=backend)

    # ----- persistence ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write config + weights atomically (loadable with CanonicalHead.load)."""
        blob = {"format": FORMAT, "config": self.config(), "n_gaussians": self.gaussians.num,
                "state": {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in self.state_dict().items()}}
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: Any = "cpu") -> "CanonicalHead":
        """Rebuild a head saved with `save`."""
        if not os.path.exists(path):
            raise InputError(f"{path}: canonical head not found; run the train_canonical rule first")
        blob = torch.load(path, map_location=map_location, weights_only=False)
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise InputError(f"{path}: not a gtalker canonical head file (format {blob.get('format')!r})")
        head = cls.from_config(blob["config"])
        head.load_state_dict(blob["state"])
        return head.to(map_location) if isinstance(map_location, (str, torch.device)) else head

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "CanonicalHead":
        """An empty head (0 Gaussians) with the modules described by `cfg`."""
        g = GaussianModel(0, max_sh_degree=int(cfg.get("max_sh_degree", MAX_SH_DEGREE)))
        tp = None
        if cfg["triplane"]:
            tp = TriPlane(cfg["bounds_min"], cfg["bounds_max"], channels=int(cfg["channels"]),
                          resolutions=tuple(cfg["resolutions"]))
        return cls(g, tp, hidden=int(cfg["hidden"]))

    def export_ply(self, path: str | os.PathLike) -> None:
        """The canonical Gaussians as a 3DGS PLY (opacity and colour baked from the networks)."""
        with torch.no_grad():
            raw = self.raw_attributes()
        self.gaussians.save_ply(str(path), opacity_logits=raw["opacity_logits"], sh=raw["sh"])
