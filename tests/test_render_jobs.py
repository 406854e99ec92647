"""Render jobs on a tiny trained synthetic talker: validation passage, new speech of any length, attention."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gtalker.common import SAMPLE_RATE, InputError, read_json
from gtalker.io.audio import ffmpeg_exe, write_wav
from gtalker.io.frames import frame_paths, read_image
from gtalker.io.video import probe
from gtalker.render import jobs
from gtalker.render.core import Timer, render_sequence
from gtalker.talker.deform import DeformConfig
from gtalker.talker.model import load
from gtalker.talker.train import TrainConfig, train
from talker_synth import FPS, audio_features, mouth_signal, train_args, write_talking_dataset

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(dataset folder, model.pt) of a briefly trained synthetic talker."""
    root = tmp_path_factory.mktemp("render")
    write_talking_dataset(root, n_frames=24, n_val=6, size=32, n_gaussians=300)
    out = root / "talker"
    cfg = DeformConfig.from_dict({"mode": "attention", "query": "posenc", "posenc_freqs": 2, "d_model": 16, "ffn_dim": 32,
                                  "head_hidden": 16})
    train(**train_args(root, out), deform_cfg=cfg,
          cfg=TrainConfig(size=32, iterations=4, batch_size=2, workers=0, log_every=2), device=CPU)
    return root, out / "model.pt"


def test_render_val_writes_frames_video_and_timing(trained: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = trained
    out = tmp_path / "render"
    stats = jobs.render_val(str(model), str(root), str(root / "split.json"), str(root / "audio/features_mel.npy"),
                            str(root / "ingest/audio.wav"), str(out / "val.mp4"), str(out / "val_frames"),
                            str(out / "render_stats.json"), size=32, fps=FPS, device=CPU, batch=2, warmup=1)
    val = read_json(root / "split.json")["val"]
    assert [int(p.stem) for p in frame_paths(out / "val_frames")] == val
    assert read_image(frame_paths(out / "val_frames")[0]).shape == (32, 32, 3)
    info = probe(out / "val.mp4")
    assert info["n_frames"] == len(val) and info["has_audio"]
    assert abs(info["duration"] - len(val) / FPS) < 0.15
    saved = read_json(out / "render_stats.json")
    assert saved["fps"] == pytest.approx(stats["fps"]) and saved["fps"] > 0
    assert saved["n_frames"] == len(val) and saved["n_gaussians"] > 100 and saved["device"] == "cpu"


def test_render_val_is_the_training_view(trained: tuple[Path, Path]) -> None:
    """A rendered frame is close to its target (the pipeline's cameras and backgrounds line up)."""
    root, model_path = trained
    model = load(model_path)
    val = read_json(root / "split.json")["val"]
    feats = np.load(root / "audio/features_mel.npy")
    frames = list(render_sequence(model, str(root), val, feats, val, 32, CPU, Timer(CPU)))
    targets = [read_image(root / "face/gt" / f"{i:06d}.jpg") for i in val]
    mse = np.mean([(f.astype(float) - t.astype(float)) ** 2 for f, t in zip(frames, targets)])
    assert 10 * np.log10(255 ** 2 / mse) > 22


def write_speech(path: Path, n_frames: int, seed: int) -> np.ndarray:
    """A wav of n_frames video frames whose loudness follows a mouth signal; returns its features."""
    m = mouth_signal(n_frames, seed)
    n = int(round(n_frames * SAMPLE_RATE / FPS))
    env = np.interp(np.arange(n) / SAMPLE_RATE * FPS, np.arange(n_frames), m)
    write_wav(path, 0.5 * env * np.sin(2 * np.pi * 180 * np.arange(n) / SAMPLE_RATE))
    return audio_features(m, seed)


def test_custom_audio_longer_than_the_passage_loops_the_poses(trained: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = trained
    n_frames = 17  # almost 3x the 6-frame validation passage
    feats = write_speech(tmp_path / "speech.wav", n_frames, seed=3)
    np.save(tmp_path / "speech.npy", feats)
    # mp3 input, as users give it
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(tmp_path / "speech.wav"), "-c:a", "libmp3lame",
                    str(tmp_path / "speech.mp3")], check=True)
    out = tmp_path / "custom" / "speech.mp4"
    n = jobs.render_custom(str(model), str(root), str(root / "split.json"), str(tmp_path / "speech.npy"),
                           str(tmp_path / "speech.mp3"), str(out), size=32, fps=FPS, device=CPU, batch=3)
    assert n == n_frames
    info = probe(out)
    assert info["n_frames"] == n_frames and info["has_audio"]
    assert abs(info["duration"] - n_frames / FPS) < 0.15


def test_custom_render_uses_the_looped_poses(trained: tuple[Path, Path]) -> None:
    """Output frame k of new speech is rendered with the pose of the back-and-forth source frame."""
    root, model_path = trained
    model = load(model_path)
    val = read_json(root / "split.json")["val"]
    feats = np.zeros((9, 16, 4), np.float32)
    from gtalker.render.looping import looped_indices

    sources = looped_indices(val, 9)
    frames = list(render_sequence(model, str(root), sources, feats, list(range(9)), 32, CPU, Timer(CPU)))
    # frames 4 and 6 both use val[4]; the audio is the same (silence): identical images
    assert sources[4] == sources[6] == val[4]
    assert np.array_equal(frames[4], frames[6])
    assert not np.array_equal(frames[4], frames[5])


def test_channel_mismatch_names_the_features(trained: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = trained
    np.save(tmp_path / "mel80.npy", np.zeros((10, 16, 80), np.float32))
    write_wav(tmp_path / "a.wav", np.zeros(int(0.4 * SAMPLE_RATE), np.float32))
    with pytest.raises(InputError, match="mel80.npy.*80 channels"):
        jobs.render_custom(str(model), str(root), str(root / "split.json"), str(tmp_path / "mel80.npy"),
                           str(tmp_path / "a.wav"), str(tmp_path / "x.mp4"), size=32, fps=FPS, device=CPU)
    assert not (tmp_path / "x.mp4").exists()


def test_attention_video_has_one_panel_per_token(trained: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = trained
    out = tmp_path / "attention.mp4"
    n = jobs.render_attention(str(model), str(root), str(root / "split.json"), str(root / "audio/features_mel.npy"),
                              str(root / "ingest/audio.wav"), str(out), size=32, fps=FPS, device=CPU, max_frames=3)
    info = probe(out)
    assert n == 3 and info["n_frames"] == 3 and info["has_audio"]
    assert (info["width"], info["height"]) == (32 * 5, 32)  # render + audio, eye, view, null


def test_render_cli_fails_cleanly_on_a_missing_model(trained: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = trained
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", "gtalker.render", "val", "--model", str(tmp_path / "none.pt"),
                           "--dataset-dir", str(root), "--split", str(root / "split.json"),
                           "--features", str(root / "audio/features_mel.npy"), "--audio", str(root / "ingest/audio.wav"),
                           "--out-video", str(tmp_path / "v.mp4"), "--out-frames", str(tmp_path / "f"),
                           "--out-stats", str(tmp_path / "s.json"), "--size", "32"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "train_talker" in proc.stderr
    assert not (tmp_path / "v.mp4").exists() and not (tmp_path / "f").exists()


def test_upsampled_head_keeps_the_background_sharp(tmp_path: Path) -> None:
    """Rasterised at the training size and upsampled, the head matches a direct render, and every
    pixel away from the head is exactly the full-resolution background."""
    from gtalker.canonical.model import CanonicalHead
    from gtalker.data import FrameDataset
    from gtalker.talker.model import Conditions, TalkingHead
    from gtalker.audio.windowing import windows

    write_talking_dataset(tmp_path, n_frames=10, n_val=2, size=32, n_gaussians=300, distance=0.9)
    cfg = DeformConfig.from_dict({"mode": "attention", "query": "posenc", "posenc_freqs": 2, "d_model": 16, "ffn_dim": 32})
    cfg.audio_channels = 4
    model = TalkingHead(CanonicalHead.load(tmp_path / "canonical/head.pt"), cfg, train_size=32).eval()
    val = [8, 9]
    feats = np.load(tmp_path / "audio/features_mel.npy")
    up = list(render_sequence(model, str(tmp_path), val, feats, val, 64, CPU, Timer(CPU), inner_size=32))
    direct = list(render_sequence(model, str(tmp_path), val, feats, val, 64, CPU, Timer(CPU)))
    data = FrameDataset(str(tmp_path), val, 64, fields=("background", "K", "viewmat", "blink"))
    for k, i in enumerate(val):
        item = data[k]
        cond = Conditions(torch.as_tensor(windows(feats, i))[None], torch.tensor([item["blink"]]),
                          item["viewmat"][None])
        with torch.no_grad():
            attrs = model.deformed(cond)[0][0]
            alpha = model.render_attributes(attrs, item["K"], item["viewmat"], 64, 64, None,
                                            filter_size=32).alpha[..., 0]
        near = torch.nn.functional.max_pool2d((alpha > 1e-3).float()[None, None], 9, 1, 4)[0, 0]
        far = ~near.bool().numpy()
        assert far.mean() > 0.2
        background = (item["background"].numpy() * 255 + 0.5).astype(np.uint8)
        assert np.abs(up[k].astype(int) - background.astype(int))[far].max() <= 1
        mse = np.mean((up[k].astype(float) - direct[k].astype(float)) ** 2)
        assert 10 * np.log10(255 ** 2 / mse) > 26
