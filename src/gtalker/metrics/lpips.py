"""LPIPS (Zhang et al. 2018), AlexNet variant v0.1, written here.

Images in [-1, 1] are shifted/scaled per channel, passed through AlexNet's convolutional layers; the five
ReLU outputs (64, 192, 384, 256, 256 channels) are unit-normalised along channels, their squared
differences weighted per channel by the learned 1x1 "lin" layers, averaged over space and summed.

Weights (both fetched by the rule download_lpips_weights): the AlexNet backbone in torchvision's layout
("alexnet-owt-7be5be79.pth", keys features.{0,3,6,8,10}.weight/bias) and the linear layers in the lpips
package's layout ("v0.1/alex.pth", keys lin{0..4}.model.1.weight of shape [1, C, 1, 1]).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gtalker.common import InputError

CHANNELS = (64, 192, 384, 256, 256)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


def alexnet_features() -> nn.Sequential:
    """AlexNet's convolutional part with torchvision's module indices (0, 3, 6, 8, 10 are convs)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


# ReLU outputs tapped by LPIPS: after features[1], [4], [7], [9], [11]
TAPS = (2, 5, 8, 10, 12)


class LinearLayer(nn.Module):
    """A learned non-negative per-channel weight (1x1 conv, no bias), as `lin{i}.model.1`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LPIPS(nn.Module):
    """Perceptual distance between image batches in [-1, 1] -> one value per image."""

    def __init__(self) -> None:
        super().__init__()
        self.features = alexnet_features()
        for i, c in enumerate(CHANNELS):
            self.add_module(f"lin{i}", LinearLayer(c))
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.eval()

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU feature maps of AlexNet."""
        out, start = [], 0
        h = (x - self.shift) / self.scale
        for stop in TAPS:
            h = self.features[start:stop](h)
            out.append(h)
            start = stop
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        n = a.shape[0]
        total = torch.zeros(n, device=a.device)
        for i, f in enumerate(self.taps(torch.cat([a, b]))):  # one pass over both batches
            f = f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + getattr(self, f"lin{i}")((f[:n] - f[n:]) ** 2).mean(dim=(1, 2, 3))
        return total


def _load_state(path: str | os.PathLike, what: str) -> dict[str, torch.Tensor]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: {what} not found; run `snakemake --cores 1 download_lpips_weights` "
                         "(needs network) or place the file there; LPIPS is reported as null without it")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt or not a tensor state dict
        raise InputError(f"{p}: cannot read {what} ({err}); delete it and rerun download_lpips_weights") from err
    if not isinstance(state, dict):
        raise InputError(f"{p}: {what} is not a state dict")
    return state


def load_lpips(alexnet_path: str | os.PathLike, linear_path: str | os.PathLike,
               device: str | torch.device = "cpu") -> LPIPS:
    """LPIPS with the torchvision AlexNet backbone and the lpips v0.1 linear layers, checked for shape."""
    model = LPIPS()
    backbone = {k: v for k, v in _load_state(alexnet_path, "AlexNet weights").items() if k.startswith("features.")}
    linear = _load_state(linear_path, "LPIPS linear weights")
    state = {**backbone, **linear, "shift": model.shift, "scale": model.scale}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or wrong:
        raise InputError(f"LPIPS weights {alexnet_path}, {linear_path}: missing {missing[:5]}, wrong shape "
                         f"{wrong[:5]}; expected torchvision alexnet + lpips v0.1 alex.pth")
    model.load_state_dict({k: state[k] for k in expected})
    return model.to(device).eval()


def to_tensor(img: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """RGB uint8 [H, W, 3] -> [1, 3, H, W] float in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(img)).to(device=device, dtype=torch.float32)
    return (t.permute(2, 0, 1)[None] / 127.5) - 1.0


@torch.inference_mode()
def lpips_distance(model: LPIPS, a: np.ndarray, b: np.ndarray) -> float:
    """LPIPS between two RGB uint8 images."""
    device = model.shift.device
    return float(model(to_tensor(a, device), to_tensor(b, device))[0])
