"""Optional VGG16 perceptual loss (method.md §3, weight 0.01), used only when its weights exist.

The network is written here (no torchvision); it reads the ImageNet VGG16 weights in the torchvision
file layout (`features.<i>.weight/bias`), which the rule `download_vgg16` fetches into resources/
with a sha256 check.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gtalker.common import InputError
from gtalker.weights import WeightSpec, download

VGG16 = WeightSpec(
    "vgg16", "vgg16-397923af.pth", "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    ("https://download.pytorch.org/models/vgg16-397923af.pth",),
    "train without the perceptual term (talker.loss.perceptual: 0)")
VGG16_FILE = "resources/vgg16-397923af.pth"
# torchvision VGG16 'features' layout: conv channel counts, 'M' = max-pool
_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M"]
# outputs taken after relu1_2, relu2_2, relu3_3, relu4_3 (indices into the Sequential)
_TAPS = (3, 8, 15, 22)
# the reference (GaussianTalker's VGGPerceptualLoss, resize=True) normalises with the ImageNet mean/std,
# then resizes every image bilinearly (align_corners=False) to 224 x 224 before the network
VGG_INPUT = 224


class VGG16Features(nn.Module):
    """The first four blocks of VGG16 with outputs at relu1_2 .. relu4_3."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=False)]
                channels = int(item)
        self.features = nn.Sequential(*layers[: _TAPS[-1] + 1])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, images: Tensor, size: int | None = VGG_INPUT) -> list[Tensor]:
        """[B,H,W,3] in [0,1] -> feature maps at the four taps, the input first normalised and resized to
        size x size as the reference does (None: at its own size)."""
        x = (images.permute(0, 3, 1, 2) - self.mean) / self.std
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _TAPS:
                outs.append(x)
        return outs


class PerceptualLoss(nn.Module):
    """Sum over relu1_2 .. relu4_3 of the mean L1 distance of VGG16 features (frozen), on images resized
    to 224 x 224 as the reference computes it."""

    def __init__(self, vgg: VGG16Features) -> None:
        super().__init__()
        self.vgg = vgg.eval()
        for p in self.vgg.parameters():
            p.requires_grad_(False)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        loss = pred.new_zeros(())
        for fp, ft in zip(self.vgg(pred), self.vgg(target)):
            loss = loss + F.l1_loss(fp, ft)
        return loss


def load_vgg16(path: str | os.PathLike) -> VGG16Features:
    """VGG16 features from a torchvision-layout state dict; InputError names the file when unusable."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: VGG16 weights not found; run `snakemake download_vgg16` (needs network) "
                         "or set talker.loss.perceptual: 0 to train without the perceptual term")
    state = torch.load(p, map_location="cpu", weights_only=True)
    model = VGG16Features()
    wanted = {k: v for k, v in state.items() if k.startswith("features.")
              and int(k.split(".")[1]) <= _TAPS[-1]}
    missing = set(model.features.state_dict()) - {k.split(".", 1)[1] for k in wanted}
    if missing:
        raise InputError(f"{p}: not a VGG16 state dict (missing {sorted(missing)[:3]}...)")
    model.features.load_state_dict({k.split(".", 1)[1]: v for k, v in wanted.items()})
    return model


def download_vgg16(out: str | os.PathLike) -> Path:
    """Fetch the VGG16 weights and keep them only if the sha256 matches."""
    return download(VGG16, out)