"""Training-time augmentation of the audio windows, so that the audio token cannot lean on the voice.

Each training frame's audio context [W, 16, C] (W windows of 16 steps of C feature bands) gets one
random draw, the same for its W windows:
  warp   band axis stretched by a in [1 - warp, 1 + warp] around band 0 (vocal-tract-length
         perturbation: a longer or shorter vocal tract moves the formants up or down in frequency);
  tempo  the 16 steps of each window stretched by r in [1 - tempo, 1 + tempo] around their centre;
  tilt   a spectral tilt, s (band / (C - 1) - 1/2) with s in [-tilt, tilt] (voice and microphone colour);
  gain   a constant in [-gain, gain] added to every value (level);
  noise  Gaussian noise of this standard deviation on every value.
All in feature units / relative factors; 0 switches a part off. Every random number comes from the
caller's generator, so runs are reproducible and the global RNG is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class AudioAugment:
    """Strength of each augmentation (0 = off)."""

    warp: float = 0.0
    tempo: float = 0.0
    tilt: float = 0.0
    gain: float = 0.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("warp", "tempo", "tilt", "gain", "noise"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"audio augmentation '{name}' must be >= 0, got {value}")
        for name in ("warp", "tempo"):
            if getattr(self, name) >= 1:
                raise ValueError(f"audio augmentation '{name}' must be < 1 (a relative stretch), "
                                 f"got {getattr(self, name)}")

    @property
    def active(self) -> bool:
        return any(v > 0 for v in (self.warp, self.tempo, self.tilt, self.gain, self.noise))


def _uniform(n: int, scale: float, gen: torch.Generator, device: torch.device) -> Tensor:
    """[n] uniform in [-scale, scale] (drawn on the CPU generator, moved to `device`)."""
    return ((torch.rand(n, generator=gen) * 2 - 1) * scale).to(device)


def stretch_axis(x: Tensor, factor: Tensor, dim: int, centre: float) -> Tensor:
    """Resample x [B, ...] along `dim` at positions centre + (i - centre) * factor[b] (linear
    interpolation, clamped at the ends): factor > 1 stretches the content towards `centre`."""
    n = x.shape[dim]
    pos = torch.arange(n, dtype=x.dtype, device=x.device)
    src = (centre + (pos[None, :] - centre) * factor[:, None].to(x.dtype)).clamp(0, n - 1)   # [B, n]
    lo = src.floor().long().clamp(max=n - 1)
    hi = (lo + 1).clamp(max=n - 1)
    frac = src - lo.to(x.dtype)
    moved = x.movedim(dim, -1)                                   # [B, ..., n]
    shape = (moved.shape[0],) + (1,) * (moved.dim() - 2) + (n,)
    idx_lo, idx_hi = lo.reshape(shape).expand_as(moved), hi.reshape(shape).expand_as(moved)
    w = frac.reshape(shape)
    out = torch.gather(moved, -1, idx_lo) * (1 - w) + torch.gather(moved, -1, idx_hi) * w
    return out.movedim(-1, dim)


def augment_audio(audio: Tensor, cfg: AudioAugment, gen: torch.Generator) -> Tensor:
    """Augmented copy of audio windows [B, W, S, C] (one draw per row b); unchanged when cfg is off."""
    if not cfg.active:
        return audio
    if audio.dim() != 4:
        raise ValueError(f"expected audio windows [B, W, S, C], got shape {tuple(audio.shape)}")
    b, _, steps, bands = audio.shape
    out = audio.float()
    if cfg.warp > 0:
        out = stretch_axis(out, 1 + _uniform(b, cfg.warp, gen, out.device), dim=3, centre=0.0)
    if cfg.tempo > 0:
        out = stretch_axis(out, 1 + _uniform(b, cfg.tempo, gen, out.device), dim=2, centre=(steps - 1) / 2)
    if cfg.tilt > 0:
        ramp = torch.linspace(-0.5, 0.5, bands, device=out.device)
        out = out + _uniform(b, cfg.tilt, gen, out.device)[:, None, None, None] * ramp
    if cfg.gain > 0:
        out = out + _uniform(b, cfg.gain, gen, out.device)[:, None, None, None]
    if cfg.noise > 0:
        out = out + (torch.randn(out.shape, generator=gen) * cfg.noise).to(out.device)
    return out.to(audio.dtype)
