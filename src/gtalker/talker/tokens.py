"""Condition tokens of the deformation network: audio, eye (blink), viewpoint and a learnable null token.

Each encoder maps one per-frame condition to a `d_model` vector; `ConditionTokens` stacks the enabled
ones into the key/value sequence [B, T, d_model] of the spatial-audio cross-attention.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from gtalker.audio.windowing import CONTEXT_FRAMES

TOKEN_NAMES = ("audio", "eye", "view", "null")


def kaiming_init(module: nn.Module, slope: float = 0.0) -> None:
    """He-normal weights and zero biases for every conv/linear layer (keeps the signal's variance
    through the stacks; PyTorch's default init shrinks it layer by layer)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, a=slope, nonlinearity="leaky_relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class AudioEncoder(nn.Module):
    """8 audio windows [B,8,16,C] -> one token [B,d].

    A 1D conv net over the 16 time steps of each window gives a 32-d code per window; a small
    temporal attention over the 8 windows mixes them; an MLP lifts the result to d_model.
    """

    def __init__(self, in_channels: int, d_model: int, code_dim: int = 32) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.02)
        # 16 -> 8 -> 4 -> 2 -> 1 time steps
        self.window_net = nn.Sequential(
            nn.Conv1d(in_channels, 32, 3, stride=2, padding=1), act,
            nn.Conv1d(32, 32, 3, stride=2, padding=1), act,
            nn.Conv1d(32, 64, 3, stride=2, padding=1), act,
            nn.Conv1d(64, 64, 3, stride=2, padding=1), act,
        )
        self.window_fc = nn.Sequential(nn.Linear(64, 64), act, nn.Linear(64, code_dim))
        # scores over the sequence of windows from a conv over that sequence
        self.score_net = nn.Sequential(
            nn.Conv1d(code_dim, 16, 3, padding=1), act,
            nn.Conv1d(16, 4, 3, padding=1), act,
            nn.Conv1d(4, 1, 3, padding=1), act,
        )
        self.score_fc = nn.Linear(CONTEXT_FRAMES, CONTEXT_FRAMES)
        self.out = nn.Sequential(nn.Linear(code_dim, d_model), act, nn.Linear(d_model, d_model))
        self.in_channels = in_channels
        kaiming_init(self, 0.02)

    def window_codes(self, audio: Tensor) -> Tensor:
        """[B,W,16,C] -> [B,W,code_dim]."""
        b, w, t, c = audio.shape
        x = audio.reshape(b * w, t, c).transpose(1, 2)          # [BW, C, 16]
        x = self.window_net(x)                                   # [BW, 64, 1]
        x = x.mean(dim=2)
        return self.window_fc(x).reshape(b, w, -1)

    def window_weights(self, codes: Tensor) -> Tensor:
        """Softmax weights [B,W] of the windows."""
        scores = self.score_net(codes.transpose(1, 2)).squeeze(1)   # [B, W]
        if scores.shape[1] == self.score_fc.in_features:
            scores = self.score_fc(scores)
        return torch.softmax(scores, dim=1)

    def forward(self, audio: Tensor) -> Tensor:
        if audio.shape[-1] != self.in_channels:
            raise ValueError(f"audio features have {audio.shape[-1]} channels, model expects {self.in_channels}")
        codes = self.window_codes(audio)
        weights = self.window_weights(codes)
        mixed = (codes * weights.unsqueeze(-1)).sum(dim=1)
        return self.out(mixed)


def sinusoidal_code(value: Tensor, dim: int = 32, max_freq_log2: float = 6.0) -> Tensor:
    """Scalar per row [B] -> [B, dim] sin/cos code at log-spaced frequencies."""
    half = dim // 2
    freqs = torch.pow(2.0, torch.linspace(0.0, max_freq_log2, half, device=value.device, dtype=value.dtype))
    angles = value.unsqueeze(-1) * freqs * math.pi
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class EyeEncoder(nn.Module):
    """Blink value in [0,1] -> 32-d sinusoidal code -> MLP -> [B,d]."""

    def __init__(self, d_model: int, code_dim: int = 32) -> None:
        super().__init__()
        self.code_dim = code_dim
        self.mlp = nn.Sequential(nn.Linear(code_dim, d_model), nn.ReLU(), nn.Linear(d_model, d_model))
        kaiming_init(self)

    def forward(self, blink: Tensor) -> Tensor:
        return self.mlp(sinusoidal_code(blink.float(), self.code_dim))


class ViewEncoder(nn.Module):
    """Viewpoint (flattened 3x3 rotation + translation of the world->camera matrix) -> MLP -> [B,d].

    The 12 inputs are standardised with statistics of the training cameras (buffers set by `fit_stats`).
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(12, d_model), nn.ReLU(), nn.Linear(d_model, d_model))
        kaiming_init(self)
        self.register_buffer("mean", torch.zeros(12))
        self.register_buffer("std", torch.ones(12))

    @staticmethod
    def pose_vector(viewmat: Tensor) -> Tensor:
        """[B,4,4] world->camera -> [B,12] (R row-major, then t)."""
        return torch.cat([viewmat[:, :3, :3].reshape(-1, 9), viewmat[:, :3, 3]], dim=1)

    def fit_stats(self, viewmats: Tensor) -> None:
        """Set the standardisation from the training cameras [N,4,4]."""
        vec = self.pose_vector(viewmats.float())
        self.mean.copy_(vec.mean(0))
        self.std.copy_(vec.std(0, unbiased=False).clamp_min(1e-3))

    def forward(self, viewmat: Tensor, drop: Tensor | None = None) -> Tensor:
        """`drop` [B] bool: frames whose pose is replaced by the training mean (condition dropout)."""
        x = (self.pose_vector(viewmat.float()) - self.mean) / self.std
        if drop is not None:
            x = torch.where(drop[:, None], torch.zeros_like(x), x)
        return self.mlp(x)


class ConditionTokens(nn.Module):
    """The enabled condition tokens stacked as [B, T, d] in the order given by `names`."""

    def __init__(self, names: Sequence[str], d_model: int, audio_channels: int,
                 dropout: dict[str, float] | None = None) -> None:
        super().__init__()
        unknown = [n for n in names if n not in TOKEN_NAMES]
        if unknown or not names:
            raise ValueError(f"tokens must be a non-empty subset of {TOKEN_NAMES}, got {list(names)}")
        self.names = tuple(names)
        # condition dropout (training only): per frame, the eye input becomes 'open' (0) and the view
        # input the mean training pose, with these probabilities, so that what only the audio can
        # explain (the mouth) is not learnt from a correlated pose or blink estimate
        self.dropout = {k: float(v) for k, v in (dropout or {}).items() if k in ("eye", "view") and v > 0}
        self.audio = AudioEncoder(audio_channels, d_model) if "audio" in names else None
        self.eye = EyeEncoder(d_model) if "eye" in names else None
        self.view = ViewEncoder(d_model) if "view" in names else None
        self.null = nn.Parameter(torch.randn(d_model) * 0.02) if "null" in names else None

    def forward(self, audio: Tensor, blink: Tensor, viewmat: Tensor) -> Tensor:
        """audio [B,8,16,C], blink [B], viewmat [B,4,4] -> tokens [B,T,d]."""
        batch = audio.shape[0]
        tokens = []
        for name in self.names:
            if name == "audio":
                tokens.append(self.audio(audio))
            elif name == "eye":
                if self.training and "eye" in self.dropout:
                    blink = torch.where(self.drop_mask(batch, "eye", blink.device), torch.zeros_like(blink), blink)
                tokens.append(self.eye(blink))
            elif name == "view":
                drop = self.drop_mask(batch, "view", viewmat.device) if self.training and "view" in self.dropout else None
                tokens.append(self.view(viewmat, drop))
            else:
                tokens.append(self.null.unsqueeze(0).expand(batch, -1))
        return torch.stack(tokens, dim=1)

    def drop_mask(self, batch: int, name: str, device: torch.device) -> Tensor:
        """[B] bool: frames whose `name` condition is dropped this step."""
        return torch.rand(batch, device=device) < self.dropout[name]
