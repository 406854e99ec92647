"""Metrics of one dataset and variant on the validation passage -> metrics.json.

Image metrics compare each rendered frame with the training target (face/gt: the real frame with every
non-head pixel replaced by torso-over-background, i.e. what a perfect render gives), over the full frame
and inside the face box (landmark hull) and the head mask (gtalker.metrics.regions). Landmark metrics
compare rendered and real frames, both measured inside the real frame's face box. Metrics that need
weights are null with the reason when the weights are absent.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from gtalker.common import InputError, read_json
from gtalker.io.audio import read_wav
from gtalker.io.frames import frame_path, read_image
from gtalker.imaging import psnr, ssim
from gtalker.metrics.landmarks import MouthMeter, fill_boxes, mouth_distance, mouth_opening
from gtalker.metrics.lipsync import energy_envelope, lipsync_scores
from gtalker.metrics.regions import REGIONS, hull_mask, region_metrics
from gtalker.metrics.stats import render_figures, train_figures

log = logging.getLogger("gtalker.metrics")


@dataclass(frozen=True)
class EvalInputs:
    """Where the evaluation reads from."""

    rendered: str          # results/D/V/render/val_frames
    real: str              # results/D/ingest/frames
    gt: str                # results/D/face/gt
    split: str             # results/D/split.json
    audio: str             # results/D/ingest/audio.wav
    frames_json: str       # results/D/ingest/frames.json
    render_stats: str | None = None
    train_log: str | None = None
    canonical_log: str | None = None
    parsing: str | None = None  # results/D/face/parsing (head mask); head-region metrics need it


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluation settings (config section `evaluate`, less fetch_weights): weights (optional) and search
    ranges; device and per_frame are set by the caller. The others are CLI flags."""

    lpips_alexnet: str = "resources/alexnet-owt-7be5be79.pth"
    lpips_linear: str = "resources/lpips_alex_v0.1.pth"
    syncnet_model: str = "resources/syncnet_v2.model"
    max_offset: int = 10
    syncnet_vshift: int = 15
    device: str = "cpu"
    per_frame: bool = True


def val_frames(split_path: str) -> list[int]:
    """The validation frame indices of split.json."""
    split = read_json(split_path)
    val = split.get("val") if isinstance(split, dict) else None
    if not val:
        raise InputError(f"{split_path}: no 'val' frames; rerun split_dataset (needs a validation passage)")
    return [int(i) for i in val]


def find_frame(folder: str, index: int) -> Path:
    """Frame `index` of a frame store, PNG or JPEG."""
    for ext in (".png", ".jpg"):
        p = frame_path(folder, index, ext)
        if p.is_file():
            return p
    raise InputError(f"{folder}: frame {index:06d} (.png/.jpg) is missing; rerun the rule that writes "
                     "this folder")


def check_frames(folder: str, indices: list[int]) -> None:
    """Fail naming the first missing frames when a frame store lacks some of `indices`."""
    missing = [i for i in indices if not (frame_path(folder, i, ".png").is_file()
                                          or frame_path(folder, i, ".jpg").is_file())]
    if missing:
        raise InputError(f"{folder}: {len(missing)} of {len(indices)} validation frames are missing "
                         f"(first: {missing[:5]}); rerun the rule that writes this folder")


def matched(rendered: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rendered frame at the target's size (area resampling when they differ)."""
    if rendered.shape[:2] == target.shape[:2]:
        return rendered
    return cv2.resize(rendered, (target.shape[1], target.shape[0]), interpolation=cv2.INTER_AREA)


def _nanmean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _clean(value: Any) -> Any:
    """NaN/inf -> None so that metrics.json is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _lpips_model(opts: EvaluateConfig, reasons: dict[str, str]):
    from gtalker.metrics.lpips import load_lpips
    from gtalker.metrics.weights import present

    missing = [p for p in (opts.lpips_alexnet, opts.lpips_linear) if not present(p)]
    if missing:
        reasons["lpips"] = (f"weights not present: {', '.join(missing)} (rule download_lpips_weights "
                            "fetches them; needs network)")
        return None
    try:
        return load_lpips(opts.lpips_alexnet, opts.lpips_linear, opts.device)
    except InputError as err:
        reasons["lpips"] = str(err)
        return None


def _syncnet_model(opts: EvaluateConfig, fps: float, indices: list[int], reasons: dict[str, str]):
    from gtalker.metrics.syncnet import load_syncnet
    from gtalker.metrics.weights import present

    if abs(fps - 25.0) > 1e-6:
        reasons["syncnet"] = f"SyncNet needs 25 fps video; this dataset has {fps:g} fps"
        return None
    if indices != list(range(indices[0], indices[0] + len(indices))):
        reasons["syncnet"] = "the validation frames are not one contiguous passage"
        return None
    if not present(opts.syncnet_model):
        reasons["syncnet"] = (f"weights not present: {opts.syncnet_model} (rule download_syncnet_weights "
                              "fetches them; needs network)")
        return None
    try:
        return load_syncnet(opts.syncnet_model, opts.device)
    except InputError as err:
        reasons["syncnet"] = str(err)
        return None


def head_mask(parsing: str, index: int, shape: tuple[int, ...]) -> np.ndarray:
    """The head label (1) of a frame's parsing, at `shape` (nearest resampling when sizes differ)."""
    labels = read_image(find_frame(parsing, index), cv2.IMREAD_GRAYSCALE)
    if labels.shape[:2] != tuple(shape[:2]):
        labels = cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return labels == 1  # CONTRACTS.md: 1 = head (face, hair, ears)


def detect_boxes(meter: MouthMeter, real_dir: str, indices: list[int]) -> list[Any]:
    """Face boxes of the real frames (nearest detected box where detection fails)."""
    boxes = []
    for i in tqdm(indices, desc="face boxes", file=sys.stderr, mininterval=5):
        boxes.append(meter.face_box(read_image(find_frame(real_dir, i))))
    n_missing = sum(b is None for b in boxes)
    if n_missing:
        log.warning("%s: no face detected in %d of %d real validation frames; using the nearest box",
                    real_dir, n_missing, len(indices))
    return fill_boxes(boxes)


def evaluate(inp: EvalInputs, opts: EvaluateConfig) -> dict[str, Any]:
    """All metrics of one validation passage."""
    indices = val_frames(inp.split)
    index = read_json(inp.frames_json)
    fps, n_total = float(index["fps"]), int(index["n_frames"])
    for folder in (inp.rendered, inp.real, inp.gt):
        check_frames(folder, indices)
    if inp.parsing:
        check_frames(inp.parsing, indices)
    reasons: dict[str, str] = {}
    lpips_model = _lpips_model(opts, reasons)
    sync_model = _syncnet_model(opts, fps, indices, reasons)
    meter = MouthMeter()
    boxes = detect_boxes(meter, inp.real, indices)
    if boxes[0] is None:
        reasons["lmd"] = f"no face detected in any real validation frame of {inp.real}"
        reasons["face"] = reasons["lmd"]
    if not inp.parsing:
        reasons["head"] = "no parsing folder given (--parsing face/parsing)"
    region_keys = [f"{m}_{r}" for r in REGIONS for m in ("psnr", "ssim", "lpips")]
    per: dict[str, list] = {k: [] for k in ("frame", "psnr", "ssim", "lpips", *region_keys, "lmd",
                                            "mouth_open_rendered", "mouth_open_real")}
    distance = None
    if lpips_model is not None:
        from gtalker.metrics.lpips import lpips_distance

        def distance(a: np.ndarray, b: np.ndarray) -> float:
            return lpips_distance(lpips_model, a, b)
    crops_rend: list[np.ndarray] = []
    crops_real: list[np.ndarray] = []
    if sync_model is not None and boxes[0] is not None:
        from gtalker.metrics.syncnet import crop_box, face_crop, smooth_boxes

        centres = smooth_boxes(np.array([crop_box(b) for b in boxes]))
    else:
        centres = None
    resized = False
    for i, box in tqdm(list(zip(indices, boxes)), desc="metrics", file=sys.stderr, mininterval=5):
        gt = read_image(find_frame(inp.gt, i))
        real = read_image(find_frame(inp.real, i))
        raw = read_image(find_frame(inp.rendered, i))
        rend = matched(raw, gt)
        resized |= rend is not raw
        per["frame"].append(i)
        per["psnr"].append(psnr(rend, gt, data_range=255.0))
        per["ssim"].append(ssim(rend, gt, data_range=255.0, border="valid"))
        if distance is not None:
            per["lpips"].append(distance(rend, gt))
        lm_real = meter.landmarks(real, box) if box is not None else None
        masks = {"face": hull_mask(lm_real, gt.shape[:2]) if lm_real is not None else None,
                 "head": head_mask(inp.parsing, i, gt.shape[:2]) if inp.parsing else None}
        for region, mask in masks.items():
            figures = region_metrics(rend, gt, mask, distance) if mask is not None else {}
            for m in ("psnr", "ssim", "lpips"):
                per[f"{m}_{region}"].append(figures.get(m, float("nan")))
        if box is not None:
            lm_rend = meter.landmarks(matched(raw, real), box)
            per["lmd"].append(mouth_distance(lm_rend, lm_real))
            per["mouth_open_rendered"].append(mouth_opening(lm_rend))
            per["mouth_open_real"].append(mouth_opening(lm_real))
            if centres is not None:  # 224x224 crops only, so memory stays small
                cx, cy, half = centres[len(per["frame"]) - 1]
                crops_rend.append(face_crop(matched(raw, real), cx, cy, half))
                crops_real.append(face_crop(real, cx, cy, half))
        else:
            for key in ("lmd", "mouth_open_rendered", "mouth_open_real"):
                per[key].append(float("nan"))
    if resized:
        log.warning("%s: rendered frames differ in size from %s; resized for comparison", inp.rendered, inp.gt)

    samples, sr = read_wav(inp.audio)
    if sr != 16000:
        raise InputError(f"{inp.audio}: {sr} Hz; the ingest audio must be 16 kHz (rerun extract_audio)")
    energy = energy_envelope(samples, n_total, fps, sr)
    sync = lipsync_scores(np.array(per["mouth_open_rendered"]), np.array(per["mouth_open_real"]),
                          np.array(indices), energy, opts.max_offset)
    lse = _lse(sync_model, crops_rend, crops_real, samples, indices, opts, reasons)

    size = gt.shape[0]
    result: dict[str, Any] = {
        "n_val_frames": len(indices), "first_val_frame": indices[0], "fps": fps, "size": size,
        "psnr": _nanmean(per["psnr"]), "ssim": _nanmean(per["ssim"]),
        "lpips": _nanmean(per["lpips"]) if lpips_model is not None else None,
        **{k: _nanmean(per[k]) for k in region_keys},
        "lmd": _nanmean(per["lmd"]), "lmd_512": None,
        "lmd_frames": int(np.isfinite(per["lmd"]).sum()) if per["lmd"] else 0,
        **sync, **lse,
    }
    if result["lmd"] is not None:
        result["lmd_512"] = result["lmd"] * 512.0 / size
    if inp.render_stats:
        result.update(render_figures(inp.render_stats))
    if inp.train_log:
        result.update(train_figures(inp.train_log, inp.canonical_log))
    result["null_reasons"] = reasons
    result["protocol"] = {
        "psnr": "dB over all pixels and channels of the full frame vs face/gt, mean over frames",
        "ssim": "Gaussian window 11, sigma 1.5, K=(0.01, 0.03), valid region, mean over RGB and frames",
        "lpips": "AlexNet v0.1, inputs in [-1, 1], full frame vs face/gt, mean over frames",
        "face": "psnr_face/ssim_face/lpips_face: the same vs face/gt inside the convex hull of the real "
                "frame's 68 dlib landmarks (jaw and brows); SSIM averaged over window centres inside it; "
                "LPIPS on the hull's box grown 10%, outside the hull taken from face/gt",
        "head": "psnr_head/ssim_head/lpips_head: likewise inside the head label (1) of face/parsing",
        "lmd": "mean distance of dlib landmarks 48-67 (px at 'size'; lmd_512 scaled to 512 px), rendered "
               "vs real frame, both predicted inside the real frame's HOG face box",
        "mouth_open_r": "Pearson r of inner-lip gap / eye-corner distance, rendered vs real",
        "av_offset_frames": "shift d in [-max_offset, max_offset] maximising r(rendered mouth opening at t, "
                            "audio log-RMS at t - d); d > 0: mouth lags audio",
        "lse": "SyncNet v2 on 224x224 BGR crops around the real frame's (median-smoothed, 1.2x) HOG face "
               "box as syncnet_python crops its S3FD boxes; "
               "LSE-D = min mean distance over +-15 frames, LSE-C = median - min",
    }
    if opts.per_frame:
        result["per_frame"] = per
    return _clean(result)


def _lse(model, crops_rend: list, crops_real: list, samples: np.ndarray, indices: list[int],
         opts: EvaluateConfig, reasons: dict[str, str]) -> dict[str, Any]:
    """LSE-C/LSE-D of the rendered (and, as a reference, the real) validation frames."""
    empty = {"lse_c": None, "lse_d": None, "syncnet_offset_frames": None, "lse_c_real": None,
             "lse_d_real": None, "syncnet_offset_frames_real": None}
    if model is None:
        return empty
    if len(crops_rend) != len(indices):
        reasons["syncnet"] = "no face box in some validation frames"
        return empty
    from gtalker.metrics.syncnet import lse

    start, stop = indices[0] * 640, (indices[-1] + 1) * 640  # 16 kHz / 25 fps = 640 samples per frame
    audio = np.asarray(samples[start:stop], dtype=np.float64) * 32768.0
    try:
        rend = lse(model, crops_rend, audio, opts.syncnet_vshift)
        real = lse(model, crops_real, audio, opts.syncnet_vshift)
    except InputError as err:
        reasons["syncnet"] = str(err)
        return empty
    return {"lse_c": rend["lse_c"], "lse_d": rend["lse_d"], "syncnet_offset_frames": rend["syncnet_offset_frames"],
            "lse_c_real": real["lse_c"], "lse_d_real": real["lse_d"],
            "syncnet_offset_frames_real": real["syncnet_offset_frames"]}
