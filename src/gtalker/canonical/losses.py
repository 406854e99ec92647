"""The canonical stage's photometric loss: 3DGS's L1 + D-SSIM (SSIM from gtalker.imaging)."""

from __future__ import annotations

from torch import Tensor

from gtalker.imaging import ssim


def photometric_loss(pred: Tensor, target: Tensor, lambda_ssim: float = 0.2) -> Tensor:
    """(1 - lambda) L1 + lambda (1 - SSIM), 3DGS's loss (0.8 / 0.2 by default)."""
    l1 = (pred - target).abs().mean()
    if lambda_ssim <= 0:
        return l1
    return (1 - lambda_ssim) * l1 + lambda_ssim * (1 - ssim(pred, target))
