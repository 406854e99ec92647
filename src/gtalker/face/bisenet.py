"""BiSeNet face parsing (19 CelebAMask-HQ classes), the network the reference preprocessing uses.

Architecture (layer names and shapes match the public checkpoint "79999_iter.pth" of
face-parsing.PyTorch): a ResNet-18 context path whose 1/8-scale features replace the spatial path;
attention refinement of the 1/16 and 1/32 features plus a global-average branch; a feature fusion module;
three output heads (the first is used at inference). Input: RGB normalised with the ImageNet mean/std,
512x512 in the reference. Classes: 0 background, 1 skin, 2/3 brows, 4/5 eyes, 6 glasses, 7/8 ears,
9 earring, 10 nose, 11 mouth, 12 upper lip, 13 lower lip, 14 neck, 15 necklace, 16 cloth, 17 hair, 18 hat.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gtalker.common import InputError
from gtalker.face import weights

log = logging.getLogger("gtalker.face.bisenet")

N_CLASSES = 19
CLASS_NAMES = ["background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
               "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat"]
# 19 classes -> 0 background, 1 head, 2 neck, 3 torso (the reference's grouping)
TO_COARSE = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 1, 1], np.uint8)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class ConvBNReLU(nn.Module):
    """Conv (no bias) -> BatchNorm -> ReLU."""

    def __init__(self, cin: int, cout: int, ks: int = 3, stride: int = 1, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, ks, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs), with a 1x1 projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if cin != cout or stride != 1:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.downsample is None else self.downsample(x)
        return F.relu(out + short)


class Resnet18(nn.Module):
    """ResNet-18 trunk returning the 1/8, 1/16 and 1/32 feature maps."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        f8 = self.layer2(self.layer1(x))
        f16 = self.layer3(f8)
        f32 = self.layer4(f16)
        return f8, f16, f32


class AttentionRefinement(nn.Module):
    """3x3 conv, then channel attention from the global average (1x1 conv, BN, sigmoid)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, cout, 3, 1, 1)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        att = torch.sigmoid(self.bn_atten(self.conv_atten(F.adaptive_avg_pool2d(feat, 1))))
        return feat * att


class ContextPath(nn.Module):
    """ResNet-18 plus attention refinement at 1/16 and 1/32 and a global-context branch."""

    def __init__(self) -> None:
        super().__init__()
        self.resnet = Resnet18()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, 3, 1, 1)
        self.conv_head16 = ConvBNReLU(128, 128, 3, 1, 1)
        self.conv_avg = ConvBNReLU(512, 128, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f8, f16, f32 = self.resnet(x)
        glob = self.conv_avg(F.adaptive_avg_pool2d(f32, 1))
        up32 = self.arm32(f32) + glob  # broadcast over the 1/32 grid
        up32 = self.conv_head32(F.interpolate(up32, size=f16.shape[2:], mode="nearest"))
        up16 = self.arm16(f16) + up32
        up16 = self.conv_head16(F.interpolate(up16, size=f8.shape[2:], mode="nearest"))
        return f8, up16, up32


class FeatureFusion(nn.Module):
    """Concatenate, 1x1 conv, and re-weight channels with a squeeze-excitation style attention."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(cin, cout, 1, 1, 0)
        self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([a, b], dim=1))
        att = torch.sigmoid(self.conv2(F.relu(self.conv1(F.adaptive_avg_pool2d(feat, 1)))))
        return feat + feat * att


class OutputHead(nn.Module):
    """3x3 ConvBNReLU then a 1x1 classifier (no bias)."""

    def __init__(self, cin: int, cmid: int, n_classes: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, cmid, 3, 1, 1)
        self.conv_out = nn.Conv2d(cmid, n_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """BiSeNet for face parsing; forward returns the main logits at the input resolution."""

    def __init__(self, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = OutputHead(256, 256, n_classes)
        self.conv_out16 = OutputHead(128, 64, n_classes)  # auxiliary heads (training only)
        self.conv_out32 = OutputHead(128, 64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f8, cp8, _ = self.cp(x)
        logits = self.conv_out(self.ffm(f8, cp8))
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=True)


def load_bisenet(path: str | Path, device: torch.device) -> BiSeNet:
    """BiSeNet with the weights of `path` (a state dict); clear errors for missing or mismatched files."""
    p = weights.require(path, "bisenet")
    try:
        state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt files
        raise InputError(f"{p}: cannot read the BiSeNet weights ({err}); delete it and rerun the download "
                         "rule, or set parsing.backend: heuristic") from err
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{p}: holds a {type(state).__name__}, not a state dict; use 79999_iter.pth or "
                         "parsing.backend: heuristic")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = BiSeNet(N_CLASSES)
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except (RuntimeError, AttributeError) as err:  # shape mismatches, or not a dict of tensors
        first = str(err).strip().splitlines()[-1][:200]
        raise InputError(f"{p}: not a 19-class face-parsing BiSeNet state dict ({first}); use "
                         "79999_iter.pth or parsing.backend: heuristic") from err
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise InputError(f"{p}: not a 19-class face-parsing BiSeNet state dict (missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}); use 79999_iter.pth or parsing.backend: heuristic")
    return net.to(device).eval()


def parse_batch(net: BiSeNet, frames: list[np.ndarray], size: int, device: torch.device) -> list[np.ndarray]:
    """19-class label maps (uint8, frame resolution) of RGB uint8 frames, run at size x size."""
    x = torch.from_numpy(np.stack(frames)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    h, w = x.shape[2:]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    with torch.no_grad():
        logits = net((x - mean) / std)
        if (h, w) != (size, size):
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
        labels = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
    return list(labels)
