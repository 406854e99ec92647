"""The report's tables as small standalone HTML pages: the ablation table and each dataset's warnings."""

from __future__ import annotations

import html
import math
import os
from typing import Any, Sequence

from gtalker.common import InputError, atomic_path, read_json
from gtalker.metrics.compare import COLUMNS

# Ablation columns: (metrics.json key, header, digits, higher is better)
ABLATION = [("psnr_face", "PSNR face dB", 2, True), ("ssim_face", "SSIM face", 4, True),
            ("psnr", "PSNR dB", 2, True), ("ssim", "SSIM", 4, True), ("lpips", "LPIPS", 4, False),
            ("lmd", "LMD px", 3, False), ("mouth_open_r", "mouth r", 3, True), ("av_corr_best", "AV r", 3, True),
            ("lse_c", "LSE-C", 3, True), ("render_fps", "render FPS", 1, True),
            ("train_seconds", "train min", 1, False)]
STYLE = ("body{font-family:sans-serif;font-size:14px;margin:16px}table{border-collapse:collapse}"
         "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f2f2f2}"
         "td.l,th.l{text-align:left}.better{color:#1a7f37}.worse{color:#c62828}.none{color:#777}")


def page(title: str, body: str) -> str:
    """A standalone HTML page."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h2>{html.escape(title)}</h2>{body}</body></html>\n")


def write_page(out: str | os.PathLike, title: str, body: str) -> None:
    with atomic_path(out) as tmp:
        tmp.write_text(page(title, body), encoding="utf-8")


def overrides(settings: dict[str, Any], prefix: str = "") -> list[str]:
    """A variant's overrides as dotted 'key=value' strings ('talker.tokens=[audio]')."""
    out = []
    for key, value in (settings or {}).items():
        if isinstance(value, dict):
            out += overrides(value, f"{prefix}{key}.")
        else:
            shown = "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
            out.append(f"{prefix}{key}={shown}")
    return out


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def ablation_html(metrics_paths: Sequence[str], variants: dict[str, dict], out: str | os.PathLike) -> None:
    """Per dataset, every variant's metrics and its difference to the first variant (the reference)."""
    rows = {}
    for path in metrics_paths:
        data = read_json(path)
        parts = os.path.normpath(path).split(os.sep)
        rows[(data.get("dataset") or parts[-3], data.get("variant") or parts[-2])] = data
    names = list(variants)
    if not names:
        raise InputError("no variants in the config")
    ref = names[0]
    body = [f"<p>Each variant against <b>{html.escape(ref)}</b> (difference in brackets; green = better, "
            "red = worse). Changes are the variant's overrides of the top-level canonical/talker settings.</p>"]
    for dataset in dict.fromkeys(d for d, _ in rows):
        body.append(f"<h3>{html.escape(dataset)}</h3><table><tr><th class='l'>variant</th><th class='l'>changes</th>"
                    + "".join(f"<th>{h}</th>" for _, h, _, _ in ABLATION) + "</tr>")
        base = rows.get((dataset, ref), {})
        for name in names:
            data = rows.get((dataset, name))
            if data is None:
                continue
            changes = ", ".join(overrides(variants[name])) or ("(reference)" if name == ref else "none")
            cells = [f"<td class='l'>{html.escape(name)}</td><td class='l'>{html.escape(changes)}</td>"]
            for key, _h, digits, higher in ABLATION:
                scale = 1 / 60.0 if key == "train_seconds" else 1.0
                value, ref_value = _finite(data.get(key)), _finite(base.get(key))
                if value is None:
                    cells.append("<td class='none'>NA</td>")
                    continue
                text = f"{value * scale:.{digits}f}"
                cls = ""
                if name != ref and ref_value is not None:
                    diff = (value - ref_value) * scale
                    if abs(diff) >= 10 ** -digits:  # unchanged figures stay plain
                        text += f" ({diff:+.{digits}f})"
                        cls = " class='better'" if (diff > 0) == higher else " class='worse'"
                cells.append(f"<td{cls}>{text}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        body.append("</table>")
    described = {key: desc for _c, key, _d, desc in COLUMNS}
    body.append("<p>" + "<br>".join(f"<b>{h}</b>: {html.escape(described.get(k, k))}" for k, h, _, _ in ABLATION
                                     if k in described) + "</p>")
    write_page(out, "Ablation: variants against the reference", "".join(body))


def warnings_html(paths: Sequence[str], datasets: Sequence[str], out: str | os.PathLike) -> None:
    """Every dataset's warnings.json (decisions about the input that change the result) as one table."""
    body = ["<p>What the pipeline decided about each input video that changes the result "
            "(results/&lt;dataset&gt;/warnings.json).</p><table><tr><th class='l'>dataset</th><th class='l'>step</th>"
            "<th class='l'>code</th><th class='l'>what happened</th></tr>"]
    for dataset, path in zip(datasets, paths):
        data = read_json(path)
        items = data.get("warnings") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise InputError(f"{path}: no 'warnings' list; rerun gather_warnings")
        if not items:
            body.append(f"<tr><td class='l'>{html.escape(dataset)}</td><td class='l none' colspan='3'>"
                        "no warnings</td></tr>")
        for item in items:
            body.append("<tr>" + "".join(f"<td class='l'>{html.escape(str(v))}</td>" for v in
                                         (dataset, item.get("step", ""), item.get("code", ""),
                                          item.get("message", ""))) + "</tr>")
    body.append("</table>")
    write_page(out, "Warnings per dataset", "".join(body))
