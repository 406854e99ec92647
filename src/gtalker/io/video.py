"""Video probing, frame extraction and mp4 writing through the ffmpeg binary."""

from __future__ import annotations

import os
import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from gtalker.common import InputError
from gtalker.io.audio import ffmpeg_exe
from gtalker.io.frames import JPEG_QUALITY

_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+).*?, (\d+) Hz")
_FPS = re.compile(r"([\d.]+k?) fps")


def _packets(path: Path, stream: str) -> tuple[np.ndarray, np.ndarray]:
    """Presentation times and durations (seconds, sorted by time) of every packet of `stream` ("v:0",
    "a:0"), read without decoding; packets missing from a cut-off file are simply absent."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
           "-map", f"0:{stream}", "-c", "copy", "-f", "framecrc", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        kind = "video" if stream.startswith("v") else "audio"
        raise InputError(f"{path}: cannot read the {kind} stream ({proc.stderr.strip()[-300:]})")
    tb = Fraction(1, 1)
    rows: list[tuple[int, int]] = []
    for line in proc.stdout.splitlines():
        if line.startswith("#tb 0:"):
            num, den = line.split(":", 1)[1].strip().split("/")
            tb = Fraction(int(num), int(den))
        elif line and not line.startswith("#"):
            fields = [f.strip() for f in line.split(",")]
            if len(fields) >= 4 and fields[0] == "0":
                rows.append((int(fields[2]), int(fields[3])))
    rows.sort()
    arr = np.array(rows, dtype=np.float64).reshape(-1, 2) * float(tb)
    return arr[:, 0], arr[:, 1]


def _stream_span(times: np.ndarray, durations: np.ndarray) -> float:
    """Seconds from the first packet's start to the last packet's end."""
    return float(np.max(times + durations) - times[0]) if len(times) else 0.0


def probe_audio(path: str | os.PathLike) -> dict[str, Any]:
    """Codec, sample rate and duration of a file's first audio stream (an audio file or a video).

    Raises InputError naming the file when it is missing, empty or holds no audio stream.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: audio file not found; fix the dataset's 'audio' path in config.yaml")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: audio file is empty (0 bytes); give a real audio file (wav, mp3, m4a, ...)")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(p)],
                          capture_output=True, text=True)
    audio = _AUDIO.search(proc.stderr)
    if audio is None:
        video = _VIDEO.search(proc.stderr)
        what = f"a {video.group(1)} picture/video without sound" if video else "not something ffmpeg can read"
        raise InputError(f"{p}: this is not an audio file ({what}); the dataset's 'audio' must be a file "
                         "with sound (wav, mp3, m4a, flac, or a video with an audio track)")
    times, durations = _packets(p, "a:0")
    return {"path": str(p), "codec": audio.group(1), "sample_rate": int(audio.group(2)),
            "duration": round(_stream_span(times, durations), 4)}


def probe(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of a video file: fps, frame count, durations (the container's, the video stream's, the
    audio stream's, the decodable one), size, audio, variable frame rate.

    Raises InputError naming the file for a missing file, a non-video, or an empty video.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: video file not found; check the dataset's 'video' path in config.yaml")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes); replace it with a real video")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(p)],
                          capture_output=True, text=True)
    info = proc.stderr
    if "Invalid data found" in info or "could not find codec" in info.lower():
        raise InputError(f"{p}: not a readable video file (ffmpeg: invalid data); give an mp4/mov/mkv/avi")
    video = _VIDEO.search(info)
    if video is None:
        raise InputError(f"{p}: contains no video stream; give a video file with a picture track")
    audio = _AUDIO.search(info)
    duration_match = _DURATION.search(info)
    times, _ = _packets(p, "v:0")
    if len(times) == 0:
        raise InputError(f"{p}: video stream has no frames (zero-length video)")
    deltas = np.diff(times)
    if len(deltas):
        median = float(np.median(deltas))
        fps = 1.0 / median if median > 0 else 0.0
        vfr = bool(np.any(np.abs(deltas - median) > 0.25 * median)) if median > 0 else False
    else:
        fps_text = _FPS.search(info)
        fps = float(fps_text.group(1).replace("k", "e3")) if fps_text else 25.0
        vfr = False
    if duration_match:
        h, m, s = duration_match.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    else:
        duration = float(times[-1] - times[0]) + (1.0 / fps if fps else 0.0)
    stream_duration = float(times[-1] - times[0]) + (float(np.median(deltas)) if len(deltas) else 0.0)
    if stream_duration <= 0:
        raise InputError(f"{p}: video stream has zero duration")
    audio_duration = _stream_span(*_packets(p, "a:0")) if audio else 0.0
    return {
        "path": str(p),
        "codec": video.group(1),
        "width": int(video.group(2)),
        "height": int(video.group(3)),
        "fps": round(fps, 4),
        "avg_fps": round((len(times)) / stream_duration, 4),
        "variable_frame_rate": vfr,
        "n_frames": int(len(times)),
        "duration": round(duration, 4),
        "video_duration": round(stream_duration, 4),
        "audio_duration": round(audio_duration, 4) if audio else None,
        # What the packets actually hold; well short of `duration` (the container's) = a cut-off file.
        "decodable_duration": round(max(stream_duration, audio_duration), 4),
        "start_time": float(times[0]),
        "has_audio": audio is not None,
        "audio_codec": audio.group(1) if audio else None,
        "audio_sample_rate": int(audio.group(2)) if audio else None,
    }


def extract_frames(path: str | os.PathLike, out_dir: str | os.PathLike, fps: float, size: int,
                   start: float | None = None, end: float | None = None, jpeg_quality: int = JPEG_QUALITY,
                   crop: tuple[int, int, int] | None = None) -> int:
    """Decode a video into out_dir/000000.jpg ... at a constant `fps`, cropped to a square, resized.

    `crop` = (x0, y0, side) in source pixels (after the decoder's rotation); None = the centre square.
    Returns the number of frames written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    qscale = max(1, min(31, round(31 - (jpeg_quality / 100.0) * 30)))
    square = "crop='min(iw,ih)':'min(iw,ih)'" if crop is None else f"crop={crop[2]}:{crop[2]}:{crop[0]}:{crop[1]}"
    vf = f"fps={fps}:round=near,{square},scale={size}:{size}:flags=area,setsar=1"
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error"]
    if start is not None:
        cmd += ["-ss", f"{start:.6f}"]
    if end is not None:
        cmd += ["-to", f"{end:.6f}"]
    cmd += ["-i", str(path), "-map", "0:v:0", "-vf", vf, "-q:v", str(qscale),
            "-start_number", "0", str(out / "%06d.jpg")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InputError(f"{path}: frame extraction failed ({proc.stderr.strip()[-300:]})")
    return len([f for f in out.iterdir() if f.suffix == ".jpg"])


class VideoWriter:
    """Stream RGB frames into an H.264 mp4 (yuv420p), optionally muxing an audio file (AAC).

    Use as a context manager; the file appears at `path` only after a successful close.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float = 25.0,
                 audio: str | os.PathLike | None = None, crf: int = 18) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self.width, self.height = width, height
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps),
               "-i", "-"]
        if audio is not None:
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k",
                    "-shortest"]
        cmd += ["-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", str(self.tmp)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB uint8 frame of the writer's size."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {(self.height, self.width, 3)}, got {frame.dtype} {frame.shape}")
        assert self.proc.stdin is not None
        self.proc.stdin.write(np.ascontiguousarray(frame).tobytes())

    def close(self, ok: bool = True) -> None:
        """Finish encoding; move into place when ok, else delete the partial file."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        code = self.proc.wait()
        if ok and code == 0:
            os.replace(self.tmp, self.path)
            return
        self.tmp.unlink(missing_ok=True)
        if ok:
            raise RuntimeError(f"{self.path}: ffmpeg encoding failed: {err.strip()[-500:]}")

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(ok=exc_type is None)
