"""The report's figures (PNG, matplotlib): training curves, metric bars, mouth trace, attention stills."""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gtalker.common import InputError, atomic_path, read_json  # noqa: E402
from gtalker.metrics.compare import COLUMNS  # noqa: E402

# Metrics drawn as bars: (metrics.json key, title); descriptions come from the comparison table.
BAR_KEYS = ["psnr_face", "ssim_face", "lpips_face", "psnr_head", "psnr", "ssim", "lmd", "mouth_open_r",
            "av_corr_best", "lse_c", "lse_d", "render_fps"]
# The metrics.json null_reasons key that says why a metric is missing.
REASON_KEY = {"lpips": "lpips", "lpips_face": "lpips", "lpips_head": "lpips", "lse_c": "syncnet",
              "lse_d": "syncnet"}
DPI = 110


def save(fig: plt.Figure, out: str | os.PathLike) -> None:
    """Write a figure as PNG atomically and close it."""
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average (window shrinks at the ends); window <= 1 returns the values."""
    if window <= 1 or len(values) < 3:
        return values
    kernel = np.ones(window)
    num = np.convolve(values, kernel, mode="same")
    den = np.convolve(np.ones_like(values), kernel, mode="same")
    return num / den


def canonical_curves(log: dict[str, Any]) -> dict[str, np.ndarray]:
    """step, loss, psnr of a canonical train_log.json (one entry per step)."""
    try:
        return {k: np.asarray(log[k], dtype=float) for k in ("step", "loss", "psnr")}
    except KeyError as err:
        raise InputError(f"canonical train_log.json has no {err} history; rerun train_canonical") from err


def talker_curves(log: dict[str, Any]) -> dict[str, np.ndarray]:
    """step, loss, psnr of a talker train_log.json (means over each `log_every` window)."""
    hist = log.get("history")
    if hist is None:
        raise InputError("talker train_log.json has no 'history'; rerun train_talker")
    return {k: np.asarray([h.get(k, math.nan) for h in hist], dtype=float) for k in ("step", "loss", "psnr")}


def training_figure(variants: Sequence[str], canonical_logs: Sequence[str], talker_logs: Sequence[str],
                    out: str | os.PathLike, title: str) -> None:
    """2x2 panels: canonical loss / PSNR per step, talker loss / PSNR; one line per variant."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex="row")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (variant, cpath, tpath) in enumerate(zip(variants, canonical_logs, talker_logs)):
        color = colors[k % len(colors)]
        for row, curves in enumerate((canonical_curves(read_json(cpath)), talker_curves(read_json(tpath)))):
            window = max(1, len(curves["step"]) // 40) if row == 0 else 1
            for col, key in enumerate(("loss", "psnr")):
                ax = axes[row, col]
                if window > 1:
                    ax.plot(curves["step"], curves[key], color=color, alpha=0.2, lw=0.8)
                ax.plot(curves["step"], smooth(curves[key], window), color=color, lw=1.6,
                        label=variant if row == 0 and col == 0 else None)
    for row, stage in enumerate(("canonical (static head)", "talker (audio-driven deformation)")):
        axes[row, 0].set_ylabel("loss")
        low, high = axes[row, 0].get_ylim()
        if low > 0 and high / low > 10:
            axes[row, 0].set_yscale("log")
        axes[row, 1].set_ylabel("PSNR (dB, training batch)")
        for col in range(2):
            axes[row, col].set_title(f"{stage}: {('loss', 'PSNR')[col]}", fontsize=10)
            axes[row, col].grid(alpha=0.3)
            axes[row, col].set_xlabel("step")
    axes[0, 0].legend(title="variant", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, out)


def metrics_figure(metrics_paths: Sequence[str], out: str | os.PathLike) -> None:
    """One bar panel per metric; groups = datasets, bars = variants; NA metrics say why."""
    rows = [read_json(p) for p in metrics_paths]
    for row, path in zip(rows, metrics_paths):
        parts = os.path.normpath(path).split(os.sep)
        row.setdefault("dataset", parts[-3])
        row.setdefault("variant", parts[-2])
        row["dataset"] = row["dataset"] or parts[-3]
        row["variant"] = row["variant"] or parts[-2]
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    described = {key: desc for _col, key, _d, desc in COLUMNS}
    described.setdefault("av_corr_best", "r of rendered mouth opening vs audio energy at the best offset")
    ncol = 4
    nrow = math.ceil(len(BAR_KEYS) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 3.0 * nrow), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / max(1, len(variants))
    for ax, key in zip(axes.flat, BAR_KEYS):
        desc = described.get(key, key)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel(_wrap(desc, 40), fontsize=7)
        any_value = False
        for j, variant in enumerate(variants):
            xs, ys = [], []
            for i, dataset in enumerate(datasets):
                value = next((r.get(key) for r in rows if r["dataset"] == dataset and r["variant"] == variant), None)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    xs.append(i + (j - (len(variants) - 1) / 2) * width)
                    ys.append(float(value))
            if xs:
                any_value = True
                bars = ax.bar(xs, ys, width=width * 0.95, color=colors[j % len(colors)], label=variant)
                ax.bar_label(bars, labels=[_short(y) for y in ys], fontsize=7)
        ax.set_xticks(range(len(datasets)), datasets, fontsize=8)
        ax.margins(y=0.15)
        ax.grid(axis="y", alpha=0.3)
        if not any_value:
            why = REASON_KEY.get(key, key)
            reason = next((r["null_reasons"][why] for r in rows if (r.get("null_reasons") or {}).get(why)), None)
            ax.text(0.5, 0.5, _wrap("not computed" + (f": {reason}" if reason else ""), 30),
                    ha="center", va="center", fontsize=8, color="0.4", transform=ax.transAxes)
            ax.set_yticks([])
    for ax in list(axes.flat)[len(BAR_KEYS):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, title="variant", loc="upper right", fontsize=8)
    fig.suptitle("Validation metrics per dataset and variant")
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    save(fig, out)


def _short(value: float) -> str:
    """A bar label: integers with thousands separators, other values to 3 significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:.3g}"


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def mouth_figure(metrics_path: str, audio_path: str, frames_json: str, out: str | os.PathLike,
                 title: str) -> None:
    """Mouth opening of the rendered and the real validation frames, and the audio energy, over time."""
    from gtalker.io.audio import read_wav
    from gtalker.metrics.lipsync import energy_envelope

    metrics = read_json(metrics_path)
    per = metrics.get("per_frame")
    if not per or not per.get("frame"):
        raise InputError(f"{metrics_path}: no per-frame values; rerun evaluate")
    index = read_json(frames_json)
    fps, n_total = float(index["fps"]), int(index["n_frames"])
    samples, sr = read_wav(audio_path)
    energy = energy_envelope(samples, n_total, fps, sr)
    frames = np.asarray(per["frame"], dtype=int)
    t = frames / fps
    rend = np.asarray(per["mouth_open_rendered"], dtype=float)
    real = np.asarray(per["mouth_open_real"], dtype=float)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    marker = "o" if len(t) <= 60 else None
    ax.plot(t, real, color="black", lw=1.6, marker=marker, ms=3, label="real frame")
    ax.plot(t, rend, color="tab:red", lw=1.6, marker=marker, ms=3, label="rendered")
    ax.set_xlabel("time in the video (s)")
    ax.set_ylabel("mouth opening\n(inner-lip gap / eye-corner distance)")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.fill_between(t, energy[frames], energy[frames].min(), color="tab:blue", alpha=0.15, step="mid")
    ax2.plot(t, energy[frames], color="tab:blue", lw=0.8, alpha=0.7, drawstyle="steps-mid", label="audio energy")
    ax2.set_ylabel("audio energy (dB re. loudest frame)", color="tab:blue")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper center", bbox_to_anchor=(0.5, -0.2),
              fontsize=8, ncol=3, frameon=False)
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    figures = [f"mouth r = {_num(metrics.get('mouth_open_r'))}",
               f"AV offset = {_num(metrics.get('av_offset_frames'), 0)} frames "
               f"(r = {_num(metrics.get('av_corr_best'))})"]
    ax.set_title(f"{title}: " + ", ".join(figures), fontsize=10)
    fig.tight_layout()
    save(fig, out)


def _num(value: Any, digits: int = 3) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "NA"
    return f"{value:.{digits}f}"


def video_frames(path: str, count: int) -> list[tuple[int, np.ndarray]]:
    """`count` frames (index, RGB) spread evenly over a video, read with OpenCV."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: cannot open the video; rerun render_attention")
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    wanted = sorted(set(np.linspace(0, max(n - 1, 0), count).round().astype(int).tolist()))
    frames = []
    for i in range(max(n, 1)):
        ok, bgr = cap.read()
        if not ok:
            break
        if i in wanted:
            frames.append((i, bgr[:, :, ::-1].copy()))
        if i >= wanted[-1]:
            break
    cap.release()
    if not frames:
        raise InputError(f"{path}: no frame could be decoded; rerun render_attention")
    return frames


def attention_figure(video: str, tokens: Sequence[str], out: str | os.PathLike, title: str,
                     count: int = 3) -> None:
    """Stills of the attention video: rows = moments, columns = the render and one map per token."""
    frames = video_frames(video, count)
    n_panels = len(tokens) + 1
    height, width = frames[0][1].shape[:2]
    if width % n_panels:
        raise InputError(f"{video}: width {width} is not {n_panels} panels (render + tokens {list(tokens)}); "
                         "rerun render_attention")
    side = width // n_panels
    fig, axes = plt.subplots(len(frames), n_panels, figsize=(2.0 * n_panels + 0.8, 2.0 * len(frames) + 0.6),
                             squeeze=False)
    for r, (index, frame) in enumerate(frames):
        for c in range(n_panels):
            ax = axes[r, c]
            ax.imshow(frame[:, c * side:(c + 1) * side])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("render" if c == 0 else f"token: {tokens[c - 1]}", fontsize=9)
        axes[r, 0].set_ylabel(f"video frame {index}", fontsize=8)
    mappable = plt.cm.ScalarMappable(cmap="turbo", norm=plt.Normalize(0, 1))
    fig.colorbar(mappable, ax=axes[:, 1:].ravel().tolist(), fraction=0.02, pad=0.01,
                 label="attention weight of each Gaussian")
    fig.suptitle(title, fontsize=10)
    save(fig, out)
