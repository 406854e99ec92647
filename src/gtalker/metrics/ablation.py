"""The ablation table of one dataset (method.md section 6): one row per variant of `ablation.variants`.

Quality from the variant's metrics.json (evaluate), cost and critique figures from its talker
probe.json (`python -m gtalker.talker probe`). Written as results/<dataset>/ablation.tsv and .md.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from gtalker.common import InputError, atomic_path, read_json
from gtalker.metrics.compare import _fmt

# (column, source, key path, digits, description)
COLUMNS: list[tuple[str, str, tuple[str, ...], int, str]] = [
    ("psnr_face", "metrics", ("psnr_face",), 2, "PSNR dB inside the face box (higher is better)"),
    ("ssim_face", "metrics", ("ssim_face",), 4, "SSIM inside the face box (higher is better)"),
    ("psnr", "metrics", ("psnr",), 2, "PSNR dB, full frame"),
    ("ssim", "metrics", ("ssim",), 4, "SSIM, full frame"),
    ("lmd", "metrics", ("lmd",), 3, "mouth landmark distance, px (lower is better)"),
    ("mouth_r", "metrics", ("mouth_open_r",), 3, "r of rendered vs real mouth opening (higher is better)"),
    ("deform_ms", "probe", ("deform_ms_per_frame",), 2, "deformation ms per frame (CPU, batch 1, median)"),
    ("mflop_frame", "probe", ("flops_per_frame",), 1, "deformation MFLOP per frame (analytic)"),
    ("train_min", "metrics", ("train_seconds",), 1, "training minutes (canonical + talker)"),
    ("gaussians", "metrics", ("n_gaussians",), 0, "Gaussian count"),
    ("jac_audio_mouth", "probe", ("jacobian", "audio", "mouth"), 4,
     "|d offsets / d audio token|_F per mouth Gaussian"),
    ("jac_eye_mouth", "probe", ("jacobian", "eye", "mouth"), 4, "the same for the eye token"),
    ("jac_view_mouth", "probe", ("jacobian", "view", "mouth"), 4, "the same for the view token"),
    ("jac_audio_rest", "probe", ("jacobian", "audio", "rest"), 4, "audio token, the other Gaussians"),
    ("swap_ratio_mouth", "probe", ("swap_ratio_mouth",), 3,
     "mouth offset change when eye/view are swapped between frames over that when audio is (0 = disentangled)"),
    ("swap_ratio_lip_box", "probe", ("swap_ratio_lip_box",), 3,
     "the same for the rendered lip box's mean pixel change"),
    ("entropy_mouth", "probe", ("attention", "mouth", "entropy_rel"), 3,
     "attention entropy over the tokens in the mouth, share of the maximum"),
    ("entropy_rest", "probe", ("attention", "rest", "entropy_rel"), 3, "the same elsewhere"),
    ("audio_focus", "probe", ("audio_focus",), 3, "audio token's attention share, mouth over elsewhere"),
    ("other_heard_r", "control", ("cases", "other", "heard_mouth_r"), 3,
     "lip-sync control: r of the mouth rendered with another passage's audio vs that passage's real mouth"),
    ("silence_motion", "control", ("silence_motion_share",), 3,
     "lip-sync control: mouth motion (sd) rendered with silence over that with the own audio (0 = still)"),
]
SCALE = {"train_min": 1 / 60.0, "mflop_frame": 1e-6}


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def ablation_rows(variants: Sequence[str], metrics: Sequence[str], probes: Sequence[str],
                  controls: Sequence[str] = ()) -> list[dict[str, str]]:
    """One row per variant from its metrics.json, probe.json and (optional) lipsync_control.json (same order
    as `variants`; without controls their columns stay empty)."""
    if not (len(variants) == len(metrics) == len(probes)) or (controls and len(controls) != len(variants)):
        raise InputError("ablation: give one metrics.json, one probe.json (and one lipsync_control.json) per "
                         "variant, in the same order")
    rows = []
    for i, (name, m_path, p_path) in enumerate(zip(variants, metrics, probes)):
        sources = {"metrics": read_json(m_path), "probe": read_json(p_path),
                   "control": read_json(controls[i]) if controls else {}}
        row = {"variant": name}
        for col, source, path, digits, _ in COLUMNS:
            row[col] = _fmt(_get(sources[source], path), digits, SCALE.get(col, 1.0))
        rows.append(row)
    return rows


def write_ablation(rows: list[dict[str, str]], dataset: str, changes: dict[str, str],
                   tsv: str | os.PathLike, md: str | os.PathLike) -> None:
    """Both tables, atomically; `changes`: variant -> its overrides as text."""
    header = ["variant", "changes"] + [c for c, *_ in COLUMNS]
    with atomic_path(tsv) as tmp:
        tmp.write_text("\n".join("\t".join(r) for r in
                                 [header] + [[row["variant"], changes.get(row["variant"], "")]
                                             + [row[c] for c, *_ in COLUMNS] for row in rows]) + "\n")
    lines = [f"# Ablation, {dataset}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join([row["variant"], changes.get(row["variant"], "")]
                                        + [row[c] for c, *_ in COLUMNS]) + " |")
    lines += ["", "Columns (method.md section 6):", ""] + [f"- `{c}`: {d}" for c, _s, _p, _d, d in COLUMNS]
    with atomic_path(md) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
