"""One table over all datasets and variants: results/compare.tsv and a Markdown version."""

from __future__ import annotations

import math
import os
from typing import Any

from gtalker.common import atomic_path, read_json

# (column, metrics.json key, digits, description); the face-region figures first: they are the headline,
# since the full-frame ones take torso and background from the real frame and hide a failed head.
COLUMNS = [
    ("psnr_face", "psnr_face", 2, "PSNR dB inside the face box (landmark hull) (higher is better)"),
    ("ssim_face", "ssim_face", 4, "SSIM inside the face box (higher is better)"),
    ("lpips_face", "lpips_face", 4, "LPIPS on the face box (lower is better)"),
    ("psnr_head", "psnr_head", 2, "PSNR dB inside the head mask (face/parsing) (higher is better)"),
    ("ssim_head", "ssim_head", 4, "SSIM inside the head mask (higher is better)"),
    ("lpips_head", "lpips_head", 4, "LPIPS on the head mask (lower is better)"),
    ("psnr", "psnr", 2, "PSNR dB vs target, full frame (higher is better)"),
    ("ssim", "ssim", 4, "SSIM, full frame (higher is better)"),
    ("lpips", "lpips", 4, "LPIPS AlexNet, full frame (lower is better)"),
    ("lmd", "lmd", 3, "mouth landmark distance, px at the processed size (lower is better)"),
    ("lmd_512", "lmd_512", 3, "LMD scaled to 512 px"),
    ("mouth_r", "mouth_open_r", 3, "r of rendered vs real mouth opening (higher is better)"),
    ("av_offset", "av_offset_frames", 0, "audio-visual offset of the rendered mouth, frames"),
    ("av_r", "av_corr_best", 3, "r of rendered mouth opening vs audio energy at that offset"),
    ("lse_c", "lse_c", 3, "SyncNet confidence (higher is better)"),
    ("lse_d", "lse_d", 3, "SyncNet distance (lower is better)"),
    ("render_fps", "render_fps", 1, "render frames per second (device-synchronised, no I/O)"),
    ("gaussians", "n_gaussians", 0, "Gaussian count"),
    ("train_min", "train_seconds", 1, "training time, minutes (canonical + talker where logged)"),
    ("peak_mem_mb", "peak_memory_mb", 0, "peak resident memory of training, MiB"),
    ("val_frames", "n_val_frames", 0, "validation frames"),
]


def _fmt(value: Any, digits: int, scale: float = 1.0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "NA"
    if isinstance(value, (int, float)):
        v = value * scale
        return str(int(round(v))) if digits == 0 else f"{v:.{digits}f}"
    return str(value)


def table_rows(paths: list[str]) -> list[dict[str, str]]:
    """One row per metrics.json (path .../<dataset>/<variant>/metrics.json)."""
    rows = []
    for path in sorted(paths):
        data = read_json(path)
        parts = os.path.normpath(path).split(os.sep)
        row = {"dataset": data.get("dataset") or parts[-3], "variant": data.get("variant") or parts[-2]}
        for col, key, digits, _ in COLUMNS:
            row[col] = _fmt(data.get(key), digits, 1 / 60.0 if col == "train_min" else 1.0)
        reasons = data.get("null_reasons") or {}
        row["notes"] = "; ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
        rows.append(row)
    return rows


def write_tsv(rows: list[dict[str, str]], out: str | os.PathLike) -> None:
    header = ["dataset", "variant"] + [c for c, *_ in COLUMNS] + ["notes"]
    with atomic_path(out) as tmp:
        lines = ["\t".join(header)] + ["\t".join(r[h].replace("\t", " ") for h in header) for r in rows]
        tmp.write_text("\n".join(lines) + "\n")


def write_markdown(rows: list[dict[str, str]], out: str | os.PathLike) -> None:
    header = ["dataset", "variant"] + [c for c, *_ in COLUMNS]
    lines = ["# gtalker: all datasets and variants", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r[h] for h in header) + " |" for r in rows]
    lines += ["", "Columns:", ""] + [f"- `{c}`: {d}" for c, _, _, d in COLUMNS]
    notes = [f"- {r['dataset']}/{r['variant']}: {r['notes']}" for r in rows if r["notes"]]
    if notes:
        lines += ["", "Metrics reported as NA:", ""] + notes
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
