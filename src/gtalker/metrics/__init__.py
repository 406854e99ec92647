"""Evaluation: image metrics (PSNR, SSIM, LPIPS), mouth landmarks (LMD), lip sync (weight-free score and
SyncNet LSE-C/LSE-D), cost figures, and the comparison table over datasets and variants."""

from gtalker.metrics.lipsync import best_offset, lipsync_scores, pearson

__all__ = ["best_offset", "lipsync_scores", "pearson"]
