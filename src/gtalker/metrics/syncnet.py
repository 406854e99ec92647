"""SyncNet (Chung & Zisserman 2016, "Out of time") and the LSE-D / LSE-C lip-sync scores.

The network (written here) follows the published "syncnet_v2.model" state-dict layout: netcnnaud /
netfcaud embed 13 MFCCs x 20 steps (0.2 s at 100 Hz), netcnnlip / netfclip embed 5 frames of a 224x224
BGR face crop (values 0..255); both to 1024-d. For each 5-frame window t, distances to the audio
embeddings at t - 15 .. t + 15 (zero-padded) are averaged over the video; LSE-D is the minimum of that
mean-distance curve, LSE-C its median minus the minimum, and the argmin gives the AV offset.
Requires 25 fps video and 16 kHz audio (4 MFCC steps per frame).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import torch
from torch import nn

from gtalker.common import InputError

CROP = 224
WINDOW = 5
MFCC_PER_FRAME = 4
VSHIFT = 15


def _conv2d_block(cin: int, cout: int, **kw) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, **kw), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _conv3d_block(cin: int, cout: int, **kw) -> list[nn.Module]:
    return [nn.Conv3d(cin, cout, **kw), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]


def _head(out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, out))


class SyncNet(nn.Module):
    """Audio and lip streams to a shared embedding space (module indices match syncnet_v2.model)."""

    def __init__(self, dim: int = 1024) -> None:
        super().__init__()
        self.netcnnaud = nn.Sequential(
            *_conv2d_block(1, 64, kernel_size=3, padding=1), nn.MaxPool2d(kernel_size=1, stride=1),
            *_conv2d_block(64, 192, kernel_size=3, padding=1), nn.MaxPool2d(kernel_size=3, stride=(1, 2)),
            *_conv2d_block(192, 384, kernel_size=3, padding=1),
            *_conv2d_block(384, 256, kernel_size=3, padding=1),
            *_conv2d_block(256, 256, kernel_size=3, padding=1), nn.MaxPool2d(kernel_size=3, stride=2),
            *_conv2d_block(256, 512, kernel_size=(5, 4)),
        )
        self.netfcaud = _head(dim)
        self.netfclip = _head(dim)
        self.netcnnlip = nn.Sequential(
            *_conv3d_block(3, 96, kernel_size=(5, 7, 7), stride=(1, 2, 2)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv3d_block(96, 256, kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_conv3d_block(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            *_conv3d_block(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            *_conv3d_block(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv3d_block(256, 512, kernel_size=(1, 6, 6)),
        )
        self.eval()

    def forward_aud(self, mfcc: torch.Tensor) -> torch.Tensor:
        """[B, 1, 13, 20] MFCC windows -> [B, dim]."""
        h = self.netcnnaud(mfcc)
        return self.netfcaud(h.reshape(h.shape[0], -1))

    def forward_lip(self, clip: torch.Tensor) -> torch.Tensor:
        """[B, 3, 5, 224, 224] BGR clips (0..255) -> [B, dim]."""
        h = self.netcnnlip(clip)
        return self.netfclip(h.reshape(h.shape[0], -1))


def missing_message(path: str | os.PathLike) -> str:
    return (f"{path}: SyncNet weights (syncnet_v2.model) not found; run `snakemake --cores 1 "
            "download_syncnet_weights` (needs network) or place the file there; LSE-C/LSE-D are null "
            "without it")


def load_syncnet(path: str | os.PathLike, device: str | torch.device = "cpu") -> SyncNet:
    """SyncNet with the weights of a syncnet_v2.model state dict, checked key by key."""
    p = Path(path)
    if not p.is_file():
        raise InputError(missing_message(p))
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InputError(f"{p}: cannot read SyncNet weights ({err})") from err
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model = SyncNet()
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or wrong:
        raise InputError(f"{p}: not a syncnet_v2.model state dict (missing {missing[:5]}, wrong shape "
                         f"{wrong[:5]})")
    model.load_state_dict({k: state[k] for k in expected if k in state}, strict=False)
    return model.to(device).eval()


def crop_box(box: tuple[float, float, float, float], scale: float = 1.2) -> tuple[float, float, float]:
    """(centre x, centre y, half size) of a face box, the size SyncNet's pipeline crops around.

    dlib's HOG boxes (brows to lower lip) are tighter than the S3FD boxes the reference pipeline uses
    (forehead to chin); `scale` enlarges them to roughly that size.
    """
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, scale * max(x1 - x0, y1 - y0) / 2.0


def face_crop(img_rgb: np.ndarray, cx: float, cy: float, s: float, pad: float = 0.4) -> np.ndarray:
    """224x224 BGR crop as syncnet_python's pipeline: side 2 s (1 + pad), from cy - s down to
    cy + s (1 + 2 pad), centred horizontally; the outside is filled with grey 110."""
    border = int(s * (1 + 2 * pad)) + 1
    padded = cv2.copyMakeBorder(img_rgb, border, border, border, border, cv2.BORDER_CONSTANT,
                                value=(110, 110, 110))
    my, mx = cy + border, cx + border
    y0, y1 = int(my - s), int(my + s * (1 + 2 * pad))
    x0, x1 = int(mx - s * (1 + pad)), int(mx + s * (1 + pad))
    crop = padded[y0:y1, x0:x1]
    return cv2.cvtColor(cv2.resize(crop, (CROP, CROP)), cv2.COLOR_RGB2BGR)


def smooth_boxes(boxes: np.ndarray, kernel: int = 13) -> np.ndarray:
    """Median filter of (cx, cy, s) over time, as the reference pipeline smooths its tracks."""
    from scipy.signal import medfilt

    boxes = np.asarray(boxes, dtype=np.float64)
    k = min(kernel, len(boxes) if len(boxes) % 2 else len(boxes) - 1)
    if k < 3:
        return boxes
    return np.stack([medfilt(boxes[:, i], k) for i in range(boxes.shape[1])], axis=1)


def sync_distances(video_emb: torch.Tensor, audio_emb: torch.Tensor, vshift: int = VSHIFT) -> torch.Tensor:
    """[T, 2 vshift + 1]: distance of video window t to audio windows t - vshift .. t + vshift."""
    padded = torch.nn.functional.pad(audio_emb, (0, 0, vshift, vshift))
    rows = [torch.nn.functional.pairwise_distance(video_emb[i:i + 1].expand(2 * vshift + 1, -1),
                                                  padded[i:i + 2 * vshift + 1]) for i in range(len(video_emb))]
    return torch.stack(rows)


def lse_scores(dists: torch.Tensor, vshift: int = VSHIFT) -> dict[str, float | int]:
    """LSE-D (min of the mean distance over shifts), LSE-C (median - min) and the AV offset."""
    mean = dists.mean(dim=0)
    min_val, min_idx = torch.min(mean, dim=0)
    return {"lse_d": float(min_val), "lse_c": float(torch.median(mean) - min_val),
            "syncnet_offset_frames": int(vshift - int(min_idx))}


def n_windows(n_frames: int, n_samples: int, n_mfcc: int) -> int:
    """Windows evaluated, as the reference: min(frames, audio frames) - 5, each with 20 MFCC steps."""
    n = min(n_frames, n_samples // 640) - WINDOW
    while n > 0 and (n - 1) * MFCC_PER_FRAME + 20 > n_mfcc:
        n -= 1
    return n


@torch.inference_mode()
def embed(model: SyncNet, crops: list[np.ndarray], mfcc: np.ndarray, n: int,
          batch: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Video and audio embeddings of the first n 5-frame windows [n, dim] each.

    crops: 224x224 BGR uint8 frames; mfcc: [T_100Hz, 13] for the same passage.
    """
    device = next(model.parameters()).device
    if n < 1:
        raise InputError(f"SyncNet needs at least {WINDOW + 1} frames with audio; got {len(crops)} frames")
    video = torch.from_numpy(np.stack(crops)).float().permute(3, 0, 1, 2)  # [3, T, H, W]
    audio = torch.from_numpy(np.asarray(mfcc, dtype=np.float32).T.copy())[None]  # [1, 13, T100]
    v_out, a_out = [], []
    for start in range(0, n, batch):
        idx = range(start, min(n, start + batch))
        clips = torch.stack([video[:, i:i + WINDOW] for i in idx]).to(device)
        cc = torch.stack([audio[:, :, i * MFCC_PER_FRAME:i * MFCC_PER_FRAME + 20] for i in idx]).to(device)
        v_out.append(model.forward_lip(clips).cpu())
        a_out.append(model.forward_aud(cc).cpu())
    return torch.cat(v_out), torch.cat(a_out)


def lse(model: SyncNet, crops: Iterable[np.ndarray], audio_int16_scale: np.ndarray,
        vshift: int = VSHIFT) -> dict[str, float | int]:
    """LSE-D/LSE-C/offset of a 25 fps clip of BGR face crops and its 16 kHz audio (int16 units)."""
    from gtalker.audio.mfcc import mfcc

    crops = list(crops)
    feats = mfcc(audio_int16_scale, 16000, n_ceps=13)
    v, a = embed(model, crops, feats, n_windows(len(crops), len(audio_int16_scale), len(feats)))
    return {**lse_scores(sync_distances(v, a, vshift), vshift), "syncnet_windows": int(len(v))}
