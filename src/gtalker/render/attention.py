"""Attention-map frames: each Gaussian coloured by the attention weight it gives one condition token.

A frame is a row of panels: the rendered head, then one panel per token (weights 0..1 through a
colour map, over black), each labelled.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import cv2
import numpy as np
import torch

from gtalker.data import FrameDataset
from gtalker.render.core import RENDER_FIELDS, to_uint8
from gtalker.talker.model import Conditions, TalkingHead
from gtalker.audio.windowing import windows


def colormap_lut(name: int = cv2.COLORMAP_TURBO) -> np.ndarray:
    """[256,3] RGB float colours of an OpenCV colour map."""
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    bgr = cv2.applyColorMap(ramp, name).reshape(256, 3)
    return bgr[:, ::-1].astype(np.float32) / 255.0


def weight_colors(weights: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """Per-Gaussian weights [N] in [0,1] -> RGB colours [N,3]."""
    idx = (weights.clamp(0, 1) * 255).round().long()
    return lut[idx]


def label(panel: np.ndarray, text: str) -> np.ndarray:
    """Write a small white label with a dark outline in the top-left corner."""
    out = panel.copy()
    scale = max(0.4, panel.shape[0] / 320)
    for color, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(out, text, (6, int(22 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.6, color,
                    thick, cv2.LINE_AA)
    return out


def attention_frames(model: TalkingHead, dataset_dir: str, indices: Sequence[int], features: np.ndarray,
                     size: int, device: torch.device, backend: str = "auto", train_filter: bool = True,
                     inner_size: int | None = None) -> Iterator[np.ndarray]:
    """Yield one panel row per frame: [render | token 1 | token 2 | ...].

    `inner_size` < size: panels are rasterised at that size and upsampled (TalkingHead.render_upsampled).
    """
    filter_size = model.train_size if train_filter else None
    inner = inner_size if inner_size is not None and inner_size < size else None
    data = FrameDataset(dataset_dir, list(indices), size, fields=RENDER_FIELDS)
    lut = torch.as_tensor(colormap_lut(), device=device)
    names = model.cfg.tokens
    black = torch.zeros(3, device=device)
    model.eval()
    for k, idx in enumerate(indices):
        item = data[k]
        cond = Conditions(torch.as_tensor(windows(features, int(idx)))[None],
                          torch.tensor([float(item["blink"])]),
                          torch.as_tensor(item["viewmat"])[None]).to(device)
        K = torch.as_tensor(item["K"]).float().to(device)
        bg = torch.as_tensor(item["background"]).float().to(device)
        with torch.no_grad():
            frames, attn = model.deformed(cond)
            attrs = frames[0]

            def panel(background: torch.Tensor, colors: torch.Tensor | None = None) -> np.ndarray:
                if inner is not None:
                    return to_uint8(model.render_upsampled(attrs, K, cond.viewmat[0], size, background, inner,
                                                           backend, filter_size, colors))
                return to_uint8(model.render_attributes(attrs, K, cond.viewmat[0], size, size, background,
                                                        backend, colors=colors, filter_size=filter_size).color)

            panels = [label(panel(bg), "render")]
            if attn is None:
                raise ValueError("this deformation mode has no attention maps")
            for t, name in enumerate(names):
                colors = weight_colors(attn[0, :, t], lut)
                panels.append(label(panel(black, colors), f"{name} {float(attn[0, :, t].mean()):.2f}"))
        yield np.concatenate(panels, axis=1)
