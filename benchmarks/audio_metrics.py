"""Speed of the audio features and of the evaluation metrics, each against a baseline in the same run.

  python benchmarks/audio_metrics.py      -> prints a table, writes benchmarks/audio_metrics.json

Audio: mel features for 20 s and 60 s of speech-like audio (time and traced peak memory, to show they
grow with the audio only through the output), and our MFCC against python_speech_features (the
reference's MFCC code) when it is installed. Metrics: per-frame cost at 512x512 of PSNR, SSIM (against
scikit-image's implementation of the same definition), dlib LMD, LPIPS and a SyncNet window (both with
random weights of the real shapes: the cost does not depend on the values).
"""

from __future__ import annotations

import json
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from gtalker.audio import FeatureConfig, extract_features
from gtalker.audio.mfcc import mfcc
from gtalker.imaging import psnr, ssim
from gtalker.metrics.landmarks import MouthMeter, mouth_distance
from gtalker.metrics.lpips import LPIPS, lpips_distance
from gtalker.metrics.syncnet import SyncNet

SR = 16000
OUT = Path(__file__).with_suffix(".json")


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic 'vowels' switching every 0.2 s with a syllable envelope, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.3 * t)
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / SR) / k for k in range(1, 8))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.2 * x * env + 0.005 * rng.normal(size=len(t))).astype(np.float32)


def timed(fn, repeat: int = 3):
    """(best seconds, result) of `repeat` calls."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_audio() -> dict:
    res = {}
    extract_features(speechlike(1.0), 25, 25, FeatureConfig(backend="mel"))  # warm up librosa
    for seconds in (20, 60):
        x = speechlike(seconds)
        n = seconds * 25
        tracemalloc.start()
        t, feats = timed(lambda: extract_features(x, n, 25, FeatureConfig(backend="mel")), 1)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        res[f"mel_{seconds}s"] = {"seconds": t, "x_realtime": seconds / t, "peak_traced_mb": peak / 2**20,
                                  "output_mb": feats.nbytes / 2**20, "shape": list(feats.shape)}
    x = speechlike(20) * 32768
    t_ours, ours = timed(lambda: mfcc(x, SR, n_ceps=26))
    res["mfcc26_20s_ours_s"] = t_ours
    try:
        from python_speech_features import mfcc as psf_mfcc

        t_ref, ref = timed(lambda: psf_mfcc(x, SR, numcep=26))
        res["mfcc26_20s_python_speech_features_s"] = t_ref
        res["mfcc26_max_abs_diff"] = float(np.abs(ours - ref).max())
    except ImportError:
        res["mfcc26_20s_python_speech_features_s"] = None
    return res


def bench_metrics() -> dict:
    from skimage.data import astronaut
    from skimage.metrics import structural_similarity

    real = np.ascontiguousarray(astronaut())
    rng = np.random.default_rng(0)
    rend = np.clip(real + rng.normal(0, 6, real.shape), 0, 255).astype(np.uint8)
    res = {}
    res["psnr_ms"] = 1000 * timed(lambda: psnr(rend, real, data_range=255.0))[0]
    t, ours = timed(lambda: ssim(rend, real, data_range=255.0, border="valid"))
    t_sk, ref = timed(lambda: structural_similarity(rend, real, gaussian_weights=True, sigma=1.5,
                                                    use_sample_covariance=False, data_range=255, channel_axis=2))
    res.update(ssim_ms=1000 * t, ssim_skimage_ms=1000 * t_sk, ssim_abs_diff=abs(ours - ref))
    meter = MouthMeter()
    t_box, box = timed(lambda: meter.face_box(real))
    t_lm, lms = timed(lambda: (meter.landmarks(rend, box), meter.landmarks(real, box)))
    res.update(face_box_ms=1000 * t_box, two_landmark_sets_ms=1000 * t_lm, lmd_px=mouth_distance(*lms))
    model = LPIPS()
    res["lpips_ms"] = 1000 * timed(lambda: lpips_distance(model, rend, real))[0]
    sync = SyncNet()
    clip = torch.rand(1, 3, 5, 224, 224) * 255
    with torch.inference_mode():
        res["syncnet_window_ms"] = 1000 * timed(lambda: (sync.forward_lip(clip), sync.forward_aud(torch.randn(1, 1, 13, 20))))[0]
    res["per_frame_total_ms"] = (res["psnr_ms"] + res["ssim_ms"] + res["face_box_ms"] + res["two_landmark_sets_ms"]
                                 + res["lpips_ms"] + 2 * res["syncnet_window_ms"])
    return res


def main() -> None:
    torch.set_num_threads(2)
    result = {"machine": f"{platform.machine()} {platform.processor() or ''} cpus={torch.get_num_threads()}",
              "audio": bench_audio(), "metrics_512px": bench_metrics()}
    for section in ("audio", "metrics_512px"):
        print(f"[{section}]")
        for k, v in result[section].items():
            print(f"  {k:40s} {v:.4g}" if isinstance(v, float) else f"  {k:40s} {v}")
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
