"""Adaptive density control of 3DGS (method.md §2-3): clone/split by view-space gradient, prune.

Every step after backward, `accumulate` adds the norm of each visible Gaussian's screen-space position
gradient (in NDC units, i.e. pixel gradient x (W/2, H/2), as the 3DGS code measures it). Every `every`
steps in [start, stop), Gaussians whose mean gradient reaches `grad_threshold` are cloned when small
(max scale <= percent_dense x scene extent) or split in two when large (new scales / 1.6, positions
sampled from the Gaussian); Gaussians with opacity below `prune_opacity` are removed. Adam moments
follow their Gaussians (zeros for new ones). The count never exceeds `max_gaussians`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from gtalker.splat.gaussians import PARAM_NAMES, GaussianModel, inverse_sigmoid
from gtalker.splat.geometry import quat_to_rotmat


@dataclass
class DensifyConfig:
    """When and how to densify: 3DGS's rules, its schedule shortened to the canonical stage's 1,500 steps
    (the defaults of `canonical.densify.*`)."""

    start: int = 100
    stop: int = 1100
    every: int = 100
    grad_threshold: float = 2e-4
    percent_dense: float = 0.01
    max_gaussians: int = 30000
    prune_opacity: float = 0.005
    opacity_reset_every: int = 0      # 0 = never
    opacity_reset_value: float = 0.01


def _swap_param(optimizer: torch.optim.Optimizer | None, old: Tensor, new: torch.nn.Parameter,
                fn: Callable[[Tensor], Tensor]) -> None:
    """Point the optimizer at `new` instead of `old`, mapping per-Gaussian state tensors with fn."""
    if optimizer is None:
        return
    for group in optimizer.param_groups:
        for i, p in enumerate(group["params"]):
            if p is old:
                group["params"][i] = new
                state = optimizer.state.pop(old, None)
                if state is not None:
                    optimizer.state[new] = {k: fn(v) if torch.is_tensor(v) and v.shape[:1] == old.shape[:1]
                                            and v.dim() > 0 else v for k, v in state.items()}
                return


def edit_gaussians(model: GaussianModel, optimizer: torch.optim.Optimizer | None, keep: Tensor,
                   new: dict[str, Tensor] | None = None) -> None:
    """Keep the Gaussians where `keep` [N] is True and append `new` ones; optimizer state follows."""
    n_new = 0 if new is None else next(iter(new.values())).shape[0]
    for name in PARAM_NAMES:
        old = getattr(model, name)
        data = old.detach()[keep]
        if n_new:
            data = torch.cat([data, new[name].to(data)], dim=0)  # type: ignore[index]
        param = torch.nn.Parameter(data, requires_grad=old.requires_grad)

        def remap(state: Tensor, keep: Tensor = keep, n_new: int = n_new) -> Tensor:
            kept = state[keep]
            pad = torch.zeros((n_new,) + tuple(state.shape[1:]), dtype=state.dtype, device=state.device)
            return torch.cat([kept, pad], dim=0)

        _swap_param(optimizer, old, param, remap)
        setattr(model, name, param)


class DensifyStrategy:
    """Gradient statistics and the clone/split/prune schedule for one GaussianModel.

    The training loop calls `step_post_backward` once per step and knows nothing of the schedule: the
    strategy gathers the step's screen-space gradients, densifies and prunes when due (never within
    `every` steps of the end) and resets opacities when due (only where they are trained parameters).
    """

    def __init__(self, config: DensifyConfig, scene_extent: float, seed: int = 0,
                 total_steps: int | None = None) -> None:
        self.cfg = config
        self.total_steps = total_steps
        self.extent = float(scene_extent)
        self.generator = torch.Generator().manual_seed(seed)
        self.grad_sum = torch.zeros(0)
        self.count = torch.zeros(0)

    def reset_stats(self, n: int, device: torch.device | str = "cpu") -> None:
        self.grad_sum = torch.zeros(n, device=device)
        self.count = torch.zeros(n, device=device)

    def state_dict(self) -> dict:
        return {"grad_sum": self.grad_sum.cpu(), "count": self.count.cpu(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.grad_sum, self.count = state["grad_sum"], state["count"]
        self.generator.set_state(state["generator"])

    def accumulate(self, means2d_grad: Tensor | None, radii: Tensor, width: int, height: int) -> None:
        """Add one view's screen-space gradient norms (NDC units) of the visible Gaussians."""
        n = radii.shape[0]
        if self.grad_sum.shape[0] != n:
            self.reset_stats(n, radii.device)
        if means2d_grad is None:
            return
        g = means2d_grad.detach()[:, :2] * torch.tensor([width / 2.0, height / 2.0], device=means2d_grad.device)
        visible = radii > 0
        self.grad_sum += torch.where(visible, g.norm(dim=-1), torch.zeros_like(self.grad_sum))
        self.count += visible.to(self.count.dtype)

    def due(self, step: int) -> bool:
        c = self.cfg
        near_end = self.total_steps is not None and step > self.total_steps - c.every
        return c.start <= step < c.stop and c.every > 0 and step % c.every == 0 and step > 0 and not near_end

    def reset_due(self, step: int) -> bool:
        c = self.cfg
        return c.opacity_reset_every > 0 and step > 0 and step % c.opacity_reset_every == 0 and step < c.stop

    def step_post_backward(self, step: int, model: GaussianModel, optimizer: torch.optim.Optimizer | None,
                           means2d_grad: Tensor | None, radii: Tensor, width: int, height: int,
                           opacities: Callable[[], Tensor]) -> dict[str, Any]:
        """One training step's part: gather gradients, densify/prune and reset opacities when due.

        Call after backward (the optimizer step may come first: it leaves the gradients in place).
        `opacities()` gives the activated opacities [N] (called only when densifying). Returns what was
        done: {"densify": counts} and/or {"opacity_reset": True}; {} on most steps.
        """
        self.accumulate(means2d_grad, radii, width, height)
        events: dict[str, Any] = {}
        if self.due(step):
            with torch.no_grad():
                opac = opacities()
            events["densify"] = self.densify_and_prune(model, optimizer, opac)
        if self.reset_due(step) and model.opacity_logits.requires_grad:
            self.reset_opacity(model, optimizer)
            events["opacity_reset"] = True
        return events

    def densify_and_prune(self, model: GaussianModel, optimizer: torch.optim.Optimizer | None,
                          opacities: Tensor) -> dict[str, int]:
        """Clone, split and prune once; returns counts. `opacities` [N] are the activated opacities."""
        c = self.cfg
        n = model.num
        avg = self.grad_sum / self.count.clamp_min(1)
        if avg.shape[0] != n:
            avg = torch.zeros(n, device=model.means.device)
        with torch.no_grad():
            big_grad = avg >= c.grad_threshold
            max_scale = torch.exp(model.log_scales).max(dim=1).values
            small = max_scale <= c.percent_dense * self.extent
            clone = big_grad & small
            split = big_grad & ~small
            prune = opacities.detach().reshape(-1) < c.prune_opacity
            # Respect the cap: every split adds one net Gaussian, every clone one.
            room = max(c.max_gaussians - int((~prune).sum()), 0)
            grow = clone | split
            if int(grow.sum()) > room:
                order = torch.argsort(torch.where(grow, avg, torch.full_like(avg, -1.0)), descending=True)
                chosen = torch.zeros_like(grow)
                chosen[order[:room]] = True
                clone, split = clone & chosen, split & chosen
            params = model.params()
            new: dict[str, Tensor] = {k: [] for k in PARAM_NAMES}  # type: ignore[misc]
            for k in PARAM_NAMES:
                new[k].append(params[k].detach()[clone])  # type: ignore[attr-defined]
            if bool(split.any()):
                idx = torch.nonzero(split).squeeze(1).repeat(2)
                scales = torch.exp(model.log_scales.detach()[idx])
                noise = torch.randn(idx.shape[0], 3, generator=self.generator).to(scales) * scales
                rot = quat_to_rotmat(model.quats.detach()[idx])
                samples = (rot @ noise.unsqueeze(-1)).squeeze(-1) + model.means.detach()[idx]
                for k in PARAM_NAMES:
                    v = params[k].detach()[idx]
                    if k == "means":
                        v = samples
                    elif k == "log_scales":
                        v = torch.log(scales / (0.8 * 2))
                    new[k].append(v)  # type: ignore[attr-defined]
            appended = {k: torch.cat(v, dim=0) for k, v in new.items()}  # type: ignore[arg-type]
            keep = ~prune & ~split
            edit_gaussians(model, optimizer, keep, appended)
        self.reset_stats(model.num, model.means.device)
        return {"cloned": int(clone.sum()), "split": int(split.sum()), "pruned": int((prune & ~split).sum()),
                "total": model.num}

    def reset_opacity(self, model: GaussianModel, optimizer: torch.optim.Optimizer | None) -> None:
        """Clamp opacities to at most `opacity_reset_value` (3DGS's periodic reset); Adam state zeroed."""
        with torch.no_grad():
            cap = inverse_sigmoid(torch.tensor(self.cfg.opacity_reset_value)).item()
            new = model.opacity_logits.detach().clamp_max(cap)
        param = torch.nn.Parameter(new, requires_grad=model.opacity_logits.requires_grad)
        _swap_param(optimizer, model.opacity_logits, param, torch.zeros_like)
        model.opacity_logits = param


def scene_extent(points: Tensor) -> float:
    """Radius of the points' bounding sphere around their mean (3DGS uses the camera extent)."""
    centre = points.mean(dim=0)
    return float((points - centre).norm(dim=1).max()) * 1.1 if points.shape[0] else 1.0

