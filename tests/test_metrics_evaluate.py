"""evaluate -> metrics.json on a small made-up validation passage, compare -> compare.tsv, link, download."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gtalker.common import write_json
from gtalker.io.audio import write_wav
from gtalker.io.frames import frame_path, read_image, write_image
from gtalker.metrics.__main__ import main as metrics_main
from test_metrics_lpips import make_weights
from test_metrics_syncnet import made_up_weights

N, VAL = 22, list(range(10, 22))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Real frames of a real face, targets = real frames, renders = targets + noise (sigma 5)."""
    from skimage.data import astronaut

    root = tmp_path_factory.mktemp("eval")
    face = np.ascontiguousarray(astronaut()[0:256, 100:356])
    rng = np.random.default_rng(0)
    for sub in ("frames", "gt", "render"):
        (root / sub).mkdir()
    for i in range(N):
        frame = np.roll(face, i % 3, axis=1)  # a little motion
        write_image(frame_path(root / "frames", i), frame)
        write_image(frame_path(root / "gt", i), frame)
        if i in VAL:
            gt = read_image(frame_path(root / "gt", i))
            noisy = np.clip(np.round(gt + rng.normal(0, 5, gt.shape)), 0, 255).astype(np.uint8)
            write_image(frame_path(root / "render", i, ".png"), noisy)
    write_json(root / "split.json", {"train": list(range(10)), "val": VAL})
    write_json(root / "frames.json", {"n_frames": N, "fps": 25, "size": 256, "source": "test"})
    write_wav(root / "audio.wav", rng.normal(0, 0.1, N * 640))
    write_json(root / "render_stats.json", {"fps": 123.4, "ms_per_frame_mean": 8.1, "n_gaussians": 1000,
                                            "device": "cpu", "size": 256})
    write_json(root / "train_log.json", {"train_seconds": 60.0, "peak_rss_mb": 500.0, "n_gaussians": 1000,
                                         "skipped_steps": 1, "device": "cpu"})
    write_json(root / "canonical_log.json", {"train_seconds": 30.0, "peak_rss_mb": 700.0})
    return root


def run(root: Path, out: Path, **weights: str) -> dict:
    args = ["evaluate", "--rendered", str(root / "render"), "--real", str(root / "frames"), "--gt",
            str(root / "gt"), "--split", str(root / "split.json"), "--audio", str(root / "audio.wav"),
            "--frames-json", str(root / "frames.json"), "--render-stats", str(root / "render_stats.json"),
            "--train-log", str(root / "train_log.json"), "--canonical-log", str(root / "canonical_log.json"),
            "--dataset", "toy", "--variant", out.parent.name, "--device", "cpu", "--max-offset", "3",
            "--out", str(out)]
    for key, value in weights.items():
        args += [f"--{key.replace('_', '-')}", value]
    assert metrics_main(args) == 0
    return json.loads(out.read_text())


def test_evaluate_without_weights(dataset: Path, tmp_path: Path):
    m = run(dataset, tmp_path / "base" / "metrics.json", lpips_alexnet=str(tmp_path / "no.pth"),
            lpips_linear=str(tmp_path / "no2.pth"), syncnet_model=str(tmp_path / "no.model"))
    assert m["n_val_frames"] == 12 and m["size"] == 256
    assert m["psnr"] == pytest.approx(20 * np.log10(255 / 5), abs=0.5)
    assert 0.8 < m["ssim"] < 1.0
    assert m["lpips"] is None and "no.pth" in m["null_reasons"]["lpips"]
    assert m["lse_c"] is None and "no.model" in m["null_reasons"]["syncnet"]
    assert m["lmd_frames"] == 12 and m["lmd"] < 2.0  # same face, noise only
    assert m["lmd_512"] == pytest.approx(m["lmd"] * 2)
    assert m["render_fps"] == 123.4 and m["n_gaussians"] == 1000
    assert m["train_seconds"] == 90.0 and m["peak_memory_mb"] == 700.0 and m["skipped_steps"] == 1
    assert len(m["per_frame"]["psnr"]) == 12 and m["per_frame"]["frame"] == VAL
    assert m["max_offset"] == 3


def test_evaluate_with_test_made_weights(dataset: Path, tmp_path: Path):
    alex, lin, _, _ = make_weights(tmp_path)
    made_up_weights(tmp_path / "syncnet_v2.model")
    torch.manual_seed(0)
    m = run(dataset, tmp_path / "fast" / "metrics.json", lpips_alexnet=str(alex), lpips_linear=str(lin),
            syncnet_model=str(tmp_path / "syncnet_v2.model"))
    assert m["lpips"] is not None and m["lpips"] > 0
    assert m["lpips_face"] is not None and m["lpips_face"] > 0 and m["psnr_face"] > 30
    assert m["psnr_head"] is None and "parsing" in m["null_reasons"]["head"]
    assert "lpips" not in m["null_reasons"] and "syncnet" not in m["null_reasons"]
    for key in ("lse_c", "lse_d", "lse_c_real", "lse_d_real"):
        assert m[key] is not None and np.isfinite(m[key])
    assert -15 <= m["syncnet_offset_frames"] <= 15


def test_missing_rendered_frame_is_named(dataset: Path, tmp_path: Path, capsys):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(dataset / "render", partial)
    (partial / "000015.png").unlink()
    args = ["evaluate", "--rendered", str(partial), "--real", str(dataset / "frames"), "--gt", str(dataset / "gt"),
            "--split", str(dataset / "split.json"), "--audio", str(dataset / "audio.wav"), "--frames-json",
            str(dataset / "frames.json"), "--device", "cpu", "--out", str(tmp_path / "m.json")]
    assert metrics_main(args) == 1
    assert "15" in capsys.readouterr().err and not (tmp_path / "m.json").exists()


def test_compare_table(tmp_path: Path):
    for variant, psnr, lpips in (("base", 31.234, None), ("fast", 29.5, 0.05)):
        write_json(tmp_path / "toy" / variant / "metrics.json", {
            "dataset": "toy", "variant": variant, "psnr": psnr, "ssim": 0.9, "lpips": lpips,
            "train_seconds": 120.0, "n_gaussians": 40000, "null_reasons": {} if lpips else {"lpips": "no weights"}})
    paths = [str(tmp_path / "toy" / v / "metrics.json") for v in ("fast", "base")]
    tsv, md = tmp_path / "compare.tsv", tmp_path / "compare.md"
    assert metrics_main(["compare", "--metrics", *paths, "--tsv", str(tsv), "--md", str(md)]) == 0
    lines = tsv.read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    assert [r["variant"] for r in rows] == ["base", "fast"]
    assert rows[0]["psnr"] == "31.23" and rows[0]["lpips"] == "NA" and rows[0]["notes"] == "lpips: no weights"
    assert rows[1]["lpips"] == "0.0500" and rows[1]["train_min"] == "2.0" and rows[1]["gaussians"] == "40000"
    assert header[2:5] == ["psnr_face", "ssim_face", "lpips_face"]  # the face-region headline first
    assert "| toy | base | NA | NA | NA | NA | NA | NA | 31.23 |" in md.read_text()


def test_link_and_offline_download(tmp_path: Path, capsys):
    src = tmp_path / "a.mp4"
    src.write_bytes(b"video")
    out = tmp_path / "report" / "a.mp4"
    assert metrics_main(["link", "--src", str(src), "--out", str(out)]) == 0
    assert out.read_bytes() == b"video"
    # a source that cannot be reached: clear message, nothing left behind
    code = metrics_main(["download", "--name", "syncnet", "--out", str(tmp_path / "s.model"),
                         "--url", f"file://{tmp_path}/missing.model"])
    assert code == 1 and not (tmp_path / "s.model").exists()
    assert "null" in capsys.readouterr().err


def test_download_checks_sha256(tmp_path: Path, capsys):
    wrong = tmp_path / "fake.pth"
    wrong.write_bytes(b"not the published file")
    code = metrics_main(["download", "--name", "lpips_linear", "--out", str(tmp_path / "lin.pth"),
                         "--url", wrong.as_uri()])
    assert code == 1 and not (tmp_path / "lin.pth").exists()
    assert "sha256" in capsys.readouterr().err
    ok = metrics_main(["download", "--name", "syncnet", "--out", str(tmp_path / "s.model"), "--url", wrong.as_uri()])
    assert ok == 0 and (tmp_path / "s.model").read_bytes() == wrong.read_bytes()  # no published digest
