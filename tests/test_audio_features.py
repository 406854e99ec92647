"""Mel features, the CLI on any audio file, and the DeepSpeech backend on a test-made ONNX graph."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ffmpeg
from gtalker.audio import FeatureConfig, MelConfig, extract_features
from gtalker.audio.__main__ import main as audio_main
from gtalker.audio.deepspeech import network_input
from gtalker.audio.windowing import context_windows
from gtalker.audio.mel import log_mel
from gtalker.audio.windowing import frame_windows
from gtalker.common import InputError, write_json
from gtalker.io.audio import write_wav

SR = 16000


def tone(seconds: float, freq: float = 1000.0, amp: float = 0.3, start: float = 0.0) -> np.ndarray:
    """A sine that starts at `start` seconds (silence before)."""
    t = np.arange(int(seconds * SR)) / SR
    x = amp * np.sin(2 * np.pi * freq * t)
    x[t < start] = 0.0
    return x.astype(np.float32)


def test_mel_shape_range_and_silence():
    feats = extract_features(tone(2.0), 50, 25, FeatureConfig(backend="mel"))
    assert feats.shape == (50, 16, 80) and feats.dtype == np.float32
    assert feats.min() >= 0.0 and feats.max() == pytest.approx(1.0)
    silent = extract_features(np.zeros(SR, np.float32), 25, 25, FeatureConfig(backend="mel"))
    assert np.all(silent == 0)


def test_mel_peak_bin_follows_frequency():
    import librosa

    centres = librosa.mel_frequencies(n_mels=82, fmin=55, fmax=7600)[1:-1]
    for freq in (500.0, 2000.0):
        seq = log_mel(tone(1.0, freq))
        assert abs(centres[int(np.argmax(seq[25]))] - freq) < 0.1 * freq


def test_mel_is_level_invariant():
    x = tone(1.0) + 0.01 * np.random.default_rng(0).normal(size=SR).astype(np.float32)
    np.testing.assert_allclose(log_mel(x), log_mel(0.05 * x), atol=1e-4)


def test_onset_lands_in_the_right_frame_window():
    """A tone starting at 2.0 s: frame 50's window holds steps 92..107, the tone begins at step 100."""
    feats = extract_features(tone(3.0, start=2.0), 75, 25, FeatureConfig(backend="mel"))
    loud = feats.max(axis=2)  # [frames, 16]
    assert loud[50, :8].max() == 0.0
    assert loud[50, 9:].min() > 0.5
    assert loud[40].max() == 0.0 and loud[60].min() > 0.5


def test_short_audio_is_padded_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="gtalker.audio"):
        feats = extract_features(tone(1.0), 40, 25, FeatureConfig(backend="mel"))
    assert feats.shape[0] == 40
    assert "padded with silence" in caplog.text
    assert np.all(feats[34:] == 0)  # frames 34.. have windows starting after 1.0 s + 8 steps


def test_empty_audio_is_an_input_error():
    with pytest.raises(InputError, match="empty"):
        extract_features(np.zeros(0, np.float32), 10, 25, FeatureConfig(backend="mel"))


def _encode(src_wav: Path, dst: Path, rate: int, channels: int) -> Path:
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-i", str(src_wav), "-ar", str(rate), "-ac",
                    str(channels), str(dst)], check=True)
    return dst


def test_cli_on_stereo_mp3_matches_wav(tmp_path: Path):
    rng = np.random.default_rng(3)
    speechlike = tone(2.0, 300) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(2 * SR) / SR)) \
        + 0.01 * rng.normal(size=2 * SR).astype(np.float32)
    wav = tmp_path / "a.wav"
    write_wav(wav, speechlike)
    mp3 = _encode(wav, tmp_path / "a.mp3", 44100, 2)
    assert audio_main(["features", "--audio", str(wav), "--fps", "25", "--backend", "mel", "--out", str(tmp_path / "w.npy")]) == 0
    assert audio_main(["features", "--audio", str(mp3), "--fps", "25", "--backend", "mel", "--out", str(tmp_path / "m.npy")]) == 0
    w, m = np.load(tmp_path / "w.npy"), np.load(tmp_path / "m.npy")
    assert w.shape == (50, 16, 80)
    assert m.shape[1:] == (16, 80) and abs(m.shape[0] - 50) <= 1  # mp3 encoder padding
    n = min(len(w), len(m))
    # the mp3 encoder delay shifts the signal by a few ms; the energy contours still agree
    r = np.corrcoef(w[:n].mean(axis=(1, 2)), m[:n].mean(axis=(1, 2)))[0, 1]
    assert r > 0.95


def test_cli_frames_json_and_n_frames(tmp_path: Path):
    wav = tmp_path / "a.wav"
    write_wav(wav, tone(1.0))
    write_json(tmp_path / "frames.json", {"n_frames": 30, "fps": 30, "size": 64, "source": "x"})
    out = tmp_path / "f.npy"
    assert audio_main(["features", "--audio", str(wav), "--frames-json", str(tmp_path / "frames.json"),
                       "--backend", "mel", "--n-mels", "40", "--out", str(out)]) == 0
    assert np.load(out).shape == (30, 16, 40)
    assert audio_main(["features", "--audio", str(wav), "--n-frames", "60", "--backend", "mel", "--out", str(out)]) == 0
    assert np.load(out).shape == (60, 16, 80)
    assert audio_main(["features", "--audio", str(wav), "--n-frames", "60", "--out", str(out)]) == 0  # default: melnorm
    assert np.load(out).shape == (60, 16, 40)
    assert audio_main(["features", "--audio", str(wav), "--n-frames", "60", "--backend", "melnorm", "--out",
                       str(out)]) == 0
    assert np.load(out).shape == (60, 16, 40)


def test_cli_missing_deepspeech_graph_names_file_and_fallback(tmp_path: Path, capsys):
    wav = tmp_path / "a.wav"
    write_wav(wav, tone(0.5))
    out = tmp_path / "f.npy"
    code = audio_main(["features", "--audio", str(wav), "--fps", "25", "--backend", "deepspeech",
                       "--deepspeech-model", str(tmp_path / "nope.onnx"), "--out", str(out)])
    assert code == 1 and not out.exists()
    err = capsys.readouterr().err
    assert "nope.onnx" in err and "backend: mel" in err


def test_cli_missing_audio_file(tmp_path: Path, capsys):
    assert audio_main(["features", "--audio", str(tmp_path / "x.mp3"), "--fps", "25",
                       "--out", str(tmp_path / "f.npy")]) == 1
    assert "x.mp3" in capsys.readouterr().err


# --- DeepSpeech on a small ONNX graph with the v0.1.0 signature ------------------------------------

def make_deepspeech_graph(path: Path, seed: int = 0, int64_lengths: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """input_node [1, T, 494] float + input_lengths [1] int -> logits [T, 1, 29] = x W + b (time-major)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.normal(size=(494, 29)).astype(np.float32) * 0.1
    b = rng.normal(size=(29,)).astype(np.float32)
    len_type = TensorProto.INT64 if int64_lengths else TensorProto.INT32
    nodes = [
        helper.make_node("MatMul", ["input_node", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["xwb"]),
        helper.make_node("Cast", ["input_lengths"], ["len_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["len_f", "zero"], ["len_0"]),
        helper.make_node("Add", ["xwb", "len_0"], ["batch_major"]),
        helper.make_node("Transpose", ["batch_major"], ["logits"], perm=[1, 0, 2]),
    ]
    graph = helper.make_graph(
        nodes, "deepspeech_signature",
        [helper.make_tensor_value_info("input_node", TensorProto.FLOAT, [1, "T", 494]),
         helper.make_tensor_value_info("input_lengths", len_type, [1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["T", 1, 29])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b"),
                     numpy_helper.from_array(np.zeros(1, np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w, b


def test_context_windows_by_hand():
    feats = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    out = context_windows(feats, 1)
    assert out.shape == (3, 6)
    np.testing.assert_array_equal(out[0], [0, 0, 1, 10, 2, 20])
    np.testing.assert_array_equal(out[2], [2, 20, 3, 30, 0, 0])


def test_network_input_layout():
    x = np.random.default_rng(4).normal(size=SR).astype(np.float32) * 0.1
    inp = network_input(x)
    assert inp.shape == (50, 494)  # 100 MFCC frames at 100 Hz -> every second one
    assert abs(float(inp.mean())) < 1e-4 and abs(float(inp.std()) - 1) < 1e-3


@pytest.mark.parametrize("int64_lengths", [False, True])
def test_deepspeech_backend_on_test_graph(tmp_path: Path, int64_lengths: bool):
    pytest.importorskip("onnx")
    model = tmp_path / "ds.onnx"
    w, b = make_deepspeech_graph(model, int64_lengths=int64_lengths)
    x = np.random.default_rng(5).normal(size=int(1.2 * SR)).astype(np.float32) * 0.1
    cfg = FeatureConfig(backend="deepspeech", deepspeech_model=str(model))
    feats = extract_features(x, 30, 25, cfg)
    assert feats.shape == (30, 16, 29)
    logits = network_input(x) @ w + b  # 60 steps at 50 Hz, same as round(1.2 s * 50)
    assert len(logits) == 60
    want = reference_ds_windows(logits)
    assert want.shape == (30, 16, 29)
    np.testing.assert_allclose(feats, want, rtol=1e-4, atol=1e-4)
    # the last frames see zeros where the dropped final step would be (frame 29 covers steps 50..65)
    assert np.abs(logits[-1]).max() > 0 and not feats[29, 9].any() and feats[29, 8].any()


def reference_ds_windows(logits: np.ndarray) -> np.ndarray:
    """The reference's windowing of the 50 Hz logits [L, 29] (AD-NeRF / GaussianTalker
    deepspeech_features.py, as published): 1-step windows for i in range(0, L - 1) (so the final step
    is left out), then 8 zero rows on each side and 16-step windows for i in range(0, len - 16, 2)."""
    steps = np.stack([logits[i:i + 1] for i in range(0, len(logits) - 1)]).reshape(-1, logits.shape[1])
    pad = np.zeros((8, logits.shape[1]))
    padded = np.concatenate([pad, steps, pad])
    return np.stack([padded[i:i + 16] for i in range(0, len(padded) - 16, 2)])


def test_deepspeech_rejects_wrong_graph(tmp_path: Path):
    pytest.importorskip("onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    cfg = FeatureConfig(backend="deepspeech", deepspeech_model=str(bad))
    with pytest.raises(InputError, match="ONNX"):
        extract_features(tone(0.5), 12, 25, cfg)


def test_mel_config_validation():
    with pytest.raises(ValueError):
        log_mel(tone(0.2), MelConfig(fmax=9000))


def test_rule_extract_audio_features(tmp_path: Path):
    """The Snakemake rule on a tiny ingested video: one job, the features of the configured backend."""
    from conftest import make_video, snakemake

    video = make_video(tmp_path / "tiny.mp4", seconds=2.0, size="64x64")
    cfg = {"datasets": {"tiny": {"video": str(video), "allow_short": True}}, "preprocess": {"size": 96},
           "audio_features": {"backend": "mel", "n_mels": 32}}
    snakemake(tmp_path, cfg, ["results/tiny/audio/features_mel.npy"])
    feats = np.load(tmp_path / "results/tiny/audio/features_mel.npy")
    assert feats.shape == (50, 16, 32)
    assert "50 frames at 25 fps" in (tmp_path / "logs/tiny/audio/extract_audio_features_mel.log").read_text()
    assert (tmp_path / "logs/benchmarks/tiny/audio/extract_audio_features_mel.tsv").exists()
