"""The Gaussian model: per-Gaussian parameters in pre-activation form (as 3DGS stores them).

means [N,3], log_scales [N,3], quats [N,4] (w,x,y,z, unnormalised), opacity_logits [N], sh_dc [N,1,3],
sh_rest [N,15,3] (SH up to degree 3; only the first (active_sh_degree+1)^2 - 1 rest bands are used).
The count N changes during densification (gtalker.splat.densify); `load_state_dict` resizes to the file.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from gtalker.splat import ply
from gtalker.splat.knn import initial_log_scales
from gtalker.splat.sh import MAX_SH_DEGREE, num_sh_bases, rgb_to_sh

PARAM_NAMES = ("means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest")


def inverse_sigmoid(x: Tensor) -> Tensor:
    """logit(x), clamped away from 0 and 1."""
    x = x.clamp(1e-6, 1 - 1e-6)
    return torch.log(x / (1 - x))


class GaussianModel(nn.Module):
    """A set of 3D Gaussians with SH colour; parameters are nn.Parameters named as in PARAM_NAMES."""

    def __init__(self, n: int = 0, max_sh_degree: int = MAX_SH_DEGREE) -> None:
        super().__init__()
        if not 0 <= max_sh_degree <= MAX_SH_DEGREE:
            raise ValueError(f"max_sh_degree must be in 0..{MAX_SH_DEGREE}")
        self.max_sh_degree = max_sh_degree
        self.active_sh_degree = 0
        n_rest = num_sh_bases(MAX_SH_DEGREE) - 1
        self.means = nn.Parameter(torch.zeros(n, 3))
        self.log_scales = nn.Parameter(torch.zeros(n, 3))
        self.quats = nn.Parameter(torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1))
        self.opacity_logits = nn.Parameter(torch.zeros(n))
        self.sh_dc = nn.Parameter(torch.zeros(n, 1, 3))
        self.sh_rest = nn.Parameter(torch.zeros(n, n_rest, 3))

    # ----- construction -------------------------------------------------------------------------
    @classmethod
    def from_points(cls, points: Tensor, colors: Tensor | None = None, opacity: float = 0.1,
                    max_sh_degree: int = MAX_SH_DEGREE) -> "GaussianModel":
        """Isotropic Gaussians at `points` [N,3]: scale = mean 3-NN distance, given opacity and colour."""
        points = points.detach().float()
        n = points.shape[0]
        model = cls(n, max_sh_degree)
        rgb = colors.detach().float() if colors is not None else torch.full((n, 3), 0.5)
        with torch.no_grad():
            model.means.copy_(points)
            model.log_scales.copy_(initial_log_scales(points))
            model.opacity_logits.fill_(math.log(opacity / (1 - opacity)))
            model.sh_dc.copy_(rgb_to_sh(rgb)[:, None, :])
        return model

    @classmethod
    def from_ply(cls, path: str, max_sh_degree: int = MAX_SH_DEGREE) -> "GaussianModel":
        """Load Gaussians from a 3DGS PLY file."""
        data = ply.read_gaussians(path)
        model = cls(len(data["means"]), max_sh_degree)
        model.set_params({k: torch.from_numpy(v) for k, v in data.items()})
        model.active_sh_degree = max_sh_degree
        return model

    # ----- access ---------------------------------------------------------------------------------
    @property
    def num(self) -> int:
        """Number of Gaussians."""
        return self.means.shape[0]

    def params(self) -> dict[str, nn.Parameter]:
        """name -> per-Gaussian parameter."""
        return {k: getattr(self, k) for k in PARAM_NAMES}

    def set_params(self, values: Mapping[str, Tensor]) -> None:
        """Replace per-Gaussian parameters (any count) by new nn.Parameters."""
        for k, v in values.items():
            if k not in PARAM_NAMES:
                raise KeyError(f"unknown Gaussian parameter '{k}'")
            old = getattr(self, k)
            setattr(self, k, nn.Parameter(v.detach().to(device=old.device, dtype=old.dtype).clone(),
                                          requires_grad=old.requires_grad))

    def sh(self) -> Tensor:
        """All SH coefficients [N, 16, 3]."""
        return torch.cat([self.sh_dc, self.sh_rest], dim=1)

    def scales(self) -> Tensor:
        return torch.exp(self.log_scales)

    def opacities(self) -> Tensor:
        return torch.sigmoid(self.opacity_logits)

    def normalized_quats(self) -> Tensor:
        return self.quats / self.quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def step_sh_degree(self) -> None:
        """Use one more SH band, up to max_sh_degree (3DGS does this every 1000 steps)."""
        self.active_sh_degree = min(self.active_sh_degree + 1, self.max_sh_degree)

    # ----- persistence ----------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        return {"active_sh_degree": self.active_sh_degree, "max_sh_degree": self.max_sh_degree}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.active_sh_degree = int(state["active_sh_degree"])
        self.max_sh_degree = int(state["max_sh_degree"])

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # Resize to the stored count first: N differs between a fresh model and a trained one.
        resized = {k: state_dict[prefix + k] for k in PARAM_NAMES if prefix + k in state_dict}
        if resized:
            self.set_params(resized)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def save_ply(self, path: str, opacity_logits: Tensor | None = None, sh: Tensor | None = None) -> None:
        """Write the 3DGS PLY; opacity/SH may be overridden (e.g. baked from networks)."""
        op = self.opacity_logits if opacity_logits is None else opacity_logits
        coeffs = self.sh() if sh is None else sh

        def arr(t: Tensor) -> np.ndarray:
            return t.detach().cpu().float().numpy()

        ply.write_gaussians(path, arr(self.means), arr(self.log_scales), arr(self.quats), arr(op),
                            arr(coeffs[:, :1]), arr(coeffs[:, 1:]))
