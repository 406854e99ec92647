"""Report figures and tables from small synthetic inputs (the tiny-run report is tests/test_report.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gtalker.common import InputError, write_json
from gtalker.report import plots, tables
from gtalker.report.__main__ import main
from test_report import non_blank, png_pixels


def metrics(tmp_path: Path, dataset: str, variant: str, **values: float | None) -> str:
    path = tmp_path / dataset / variant / "metrics.json"
    base = {"dataset": dataset, "variant": variant, "psnr": 30.0, "ssim": 0.9, "lpips": None, "lmd": 2.0,
            "mouth_open_r": 0.8, "av_corr_best": 0.5, "av_offset_frames": 1, "lse_c": None, "lse_d": None,
            "render_fps": 7.0, "n_gaussians": 18000, "train_seconds": 600.0,
            "null_reasons": {"lpips": "weights not present", "syncnet": "weights not present"}}
    write_json(path, {**base, **values})
    return str(path)


def test_ablation_table_gives_differences_to_the_first_variant(tmp_path: Path) -> None:
    paths = [metrics(tmp_path, "demo", "base"), metrics(tmp_path, "demo", "no_null", psnr=29.5, lmd=1.5)]
    out = tmp_path / "ablation.html"
    tables.ablation_html(paths, {"base": {}, "no_null": {"talker": {"tokens": ["audio", "eye", "view"]}}}, out)
    html = out.read_text()
    assert "talker.tokens=[audio, eye, view]" in html and "(reference)" in html
    assert "<td class='worse'>29.50 (-0.50)</td>" in html      # lower PSNR is worse
    assert "<td class='better'>1.500 (-0.500)</td>" in html    # lower LMD is better
    assert "<td class='none'>NA</td>" in html                   # LPIPS without weights


def test_warnings_table_lists_each_dataset(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_json(a, {"dataset": "a", "n_warnings": 1, "warnings": [
        {"step": "extract_audio", "code": "audio_padded", "message": "a.mp4: audio <padded>", "figures": {}}]})
    write_json(b, {"dataset": "b", "n_warnings": 0, "warnings": []})
    out = tmp_path / "w.html"
    tables.warnings_html([str(a), str(b)], ["a", "b"], out)
    html = out.read_text()
    assert "audio_padded" in html and "a.mp4: audio &lt;padded&gt;" in html and "no warnings" in html
    write_json(b, {"dataset": "b"})
    with pytest.raises(InputError, match="b.json"):
        tables.warnings_html([str(b)], ["b"], out)


def test_metrics_figure_draws_every_variant(tmp_path: Path) -> None:
    paths = [metrics(tmp_path, d, v, psnr=p) for d, v, p in
             [("demo", "base", 30.0), ("demo", "wide", 31.0), ("other", "base", 28.0), ("other", "wide", 29.0)]]
    out = tmp_path / "metrics.png"
    plots.metrics_figure(paths, out)
    assert non_blank(png_pixels(out.read_bytes()))


def test_training_and_mouth_figures(tmp_path: Path) -> None:
    canonical = tmp_path / "c.json"
    talker = tmp_path / "t.json"
    steps = np.arange(1, 201)
    write_json(canonical, {"step": steps.tolist(), "loss": (0.1 / steps).tolist(), "psnr": (20 + np.log(steps)).tolist()})
    write_json(talker, {"history": [{"step": s, "loss": 0.05 / s, "psnr": 25 + s / 10} for s in range(10, 110, 10)]})
    out = tmp_path / "training.png"
    assert main(["training", "--variants", "base", "--canonical-logs", str(canonical), "--talker-logs", str(talker),
                 "--out", str(out)]) == 0
    assert non_blank(png_pixels(out.read_bytes()))

    n, fps = 50, 25.0
    frames = list(range(40, 50))
    write_json(tmp_path / "frames.json", {"n_frames": n, "fps": fps, "size": 96, "source": "x"})
    t = np.arange(n * 640) / 16000
    sf.write(tmp_path / "audio.wav", (0.3 * np.sin(2 * np.pi * 200 * t) * (t > 1.8)).astype(np.float32), 16000)
    m = metrics(tmp_path, "demo", "base", per_frame={"frame": frames, "mouth_open_rendered": [0.1] * 10,
                                                     "mouth_open_real": np.linspace(0, 0.3, 10).tolist()})
    out = tmp_path / "mouth.png"
    plots.mouth_figure(m, str(tmp_path / "audio.wav"), str(tmp_path / "frames.json"), out, "demo / base")
    assert non_blank(png_pixels(out.read_bytes()))
    no_trace = metrics(tmp_path, "demo", "x")
    assert main(["mouth", "--metrics", no_trace, "--audio", str(tmp_path / "audio.wav"), "--frames-json",
                 str(tmp_path / "frames.json"), "--out", str(tmp_path / "m2.png")]) == 1
    assert not (tmp_path / "m2.png").exists()


def test_attention_stills_split_the_panels(tmp_path: Path) -> None:
    from gtalker.io.video import VideoWriter

    side, tokens = 30, ["audio", "eye"]
    video = tmp_path / "attention.mp4"
    with VideoWriter(video, side * 3, side, fps=25) as writer:
        for k in range(12):
            frame = np.zeros((side, side * 3, 3), np.uint8)
            frame[:, :side] = 200
            frame[8:22, side + 8:side + 22] = (40 * k) % 255
            frame[:, 2 * side:] = (0, 0, 255)
            writer.write(frame)
    out = tmp_path / "attention.png"
    talker_log = tmp_path / "train_log.json"
    talker_log.write_text(json.dumps({"deform_config": {"tokens": tokens}}))
    assert main(["attention", "--video", str(video), "--talker-log", str(talker_log), "--out", str(out)]) == 0
    assert non_blank(png_pixels(out.read_bytes()))
    talker_log.write_text(json.dumps({"deform_config": {"tokens": ["audio", "eye", "view"]}}))
    assert main(["attention", "--video", str(video), "--talker-log", str(talker_log), "--out", str(out)]) == 1
