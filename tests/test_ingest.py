"""Ingest: probe, frame extraction at a fixed rate, audio length, and every kind of bad input."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ffmpeg, make_video
from gtalker.common import InputError, read_json
from gtalker.ingest import main as ingest_main
from gtalker.ingest import probe_video, run_audio, run_frames
from gtalker.io.audio import read_wav
from gtalker.io.frames import count_frames, read_frame
from gtalker.io.video import probe


def _ingest(video: Path, tmp: Path, fps: float = 25, size: int = 64, audio: str | None = None,
            start: float | None = None, end: float | None = None,
            mismatch: str | None = None) -> tuple[dict, Path]:
    """Probe, frames and audio of a (short: allow_short) test video."""
    from gtalker.common import write_json

    write_json(tmp / "probe.json", probe_video(str(video), audio))
    meta = run_frames(str(video), str(tmp / "probe.json"), str(tmp / "frames"), str(tmp / "frames.json"),
                      fps, size, start, end, 95, allow_short=True)
    run_audio(str(video), str(tmp / "frames.json"), str(tmp / "audio.wav"), audio, start, end,
              mismatch=mismatch)
    return meta, tmp


def test_probe_reports_stream_facts(tiny_video: Path) -> None:
    info = probe(tiny_video)
    assert info["width"] == 96 and info["height"] == 96
    assert info["fps"] == pytest.approx(25, abs=0.01)
    assert info["n_frames"] == 50
    assert info["duration"] == pytest.approx(2.0, abs=0.05)
    assert info["has_audio"] is True
    assert info["variable_frame_rate"] is False


@pytest.mark.parametrize("fps", [25, 30, 12.5])
def test_frame_count_matches_duration_times_fps(tiny_video: Path, tmp_path: Path, fps: float) -> None:
    meta, out = _ingest(tiny_video, tmp_path, fps=fps, size=48)
    expected = round(2.0 * fps)
    assert meta["n_frames"] == expected
    assert count_frames(out / "frames") == expected
    assert read_frame(out / "frames", 0).shape == (48, 48, 3)
    samples, sr = read_wav(out / "audio.wav")
    assert sr == 16000
    assert len(samples) == round(expected * 16000 / fps)
    # The sine tone survives: its energy is well above silence.
    assert np.sqrt(np.mean(samples**2)) > 0.05


def test_start_end_cut_a_passage(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", seconds=3.0)
    meta, out = _ingest(video, tmp_path, start=1.0, end=2.2)
    assert meta["n_frames"] == 30
    samples, _ = read_wav(out / "audio.wav")
    assert len(samples) == 30 * 640


def test_non_square_odd_size_is_centre_cropped(tmp_path: Path) -> None:
    video = make_video(tmp_path / "odd.mkv", size="161x97", codec=["-c:v", "ffv1"])
    meta, out = _ingest(video, tmp_path, size=64)
    assert read_frame(out / "frames", 3).shape == (64, 64, 3)
    assert meta["n_frames"] == 50


def test_variable_frame_rate_is_resampled_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    vfr = tmp_path / "vfr.mp4"
    # Every third frame lasts three times as long: a variable frame rate stream.
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=2",
                    "-f", "lavfi", "-i", "sine=frequency=300:duration=3",
                    "-vf", "setpts='N/25/TB + floor(N/3)*2/25/TB'", "-fps_mode", "vfr",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(vfr)], check=True)
    with caplog.at_level(logging.WARNING):
        info = probe_video(str(vfr))
    assert info["variable_frame_rate"] is True
    assert "variable frame rate" in caplog.text
    meta, out = _ingest(vfr, tmp_path, fps=25, size=32)
    duration = read_json(out / "probe.json")["video_duration"]
    assert abs(meta["n_frames"] - round(duration * 25)) <= 1
    samples, _ = read_wav(out / "audio.wav")
    assert len(samples) == meta["n_frames"] * 640


def test_separate_audio_file_replaces_missing_track(tmp_path: Path) -> None:
    silent = make_video(tmp_path / "silent.mp4", audio=False)
    wav = tmp_path / "speech.wav"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=200:duration=1.5",
                    "-ac", "2", "-ar", "44100", str(wav)], check=True)
    meta, out = _ingest(silent, tmp_path, audio=str(wav), mismatch="pad")
    samples, _ = read_wav(out / "audio.wav")
    assert len(samples) == meta["n_frames"] * 640
    # 1.5 s of tone, then zero padding up to the 2 s video.
    assert np.abs(samples[: 16000]).max() > 0.1 and np.abs(samples[-4000:]).max() < 1e-3


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothere.mp4: video file not found"):
        probe_video(str(tmp_path / "nothere.mp4"))


def test_not_a_video(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 20)
    with pytest.raises(InputError, match="notes.mp4: not a readable video"):
        probe_video(str(bad))


def test_zero_length_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.mp4: file is empty"):
        probe_video(str(empty))


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    audio_only = tmp_path / "voice.m4a"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac",
                    str(audio_only)], check=True)
    with pytest.raises(InputError, match="voice.m4a: contains no video stream"):
        probe_video(str(audio_only))


def test_video_without_audio_says_what_to_do(tmp_path: Path) -> None:
    silent = make_video(tmp_path / "silent.mp4", audio=False)
    with pytest.raises(InputError, match="silent.mp4: the video has no audio track; add an 'audio"):
        probe_video(str(silent))


def test_tiny_frames_rejected(tmp_path: Path) -> None:
    small = make_video(tmp_path / "small.mp4", size="32x32")
    with pytest.raises(InputError, match="only 32x32"):
        probe_video(str(small))


def test_failure_leaves_no_partial_output(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", seconds=1.0)
    from gtalker.common import write_json

    write_json(tmp_path / "probe.json", probe_video(str(video)))
    with pytest.raises(InputError, match="beyond the video's end"):
        run_frames(str(video), str(tmp_path / "probe.json"), str(tmp_path / "frames"),
                   str(tmp_path / "frames.json"), 25, 32, 5.0, None, 95)
    assert not (tmp_path / "frames").exists()
    assert not (tmp_path / "frames.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".frames")]


def test_cli_exits_1_with_message(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    code = ingest_main(["probe", "--video", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "p.json")])
    assert code == 1
    assert not (tmp_path / "p.json").exists()
