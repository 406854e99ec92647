"""Ingest one source video: probe its metadata, extract frames at a fixed rate, extract 16 kHz audio.

CLI:
  python -m gtalker.ingest probe  --video V --out probe.json [--audio A] [--notices N.json]
  python -m gtalker.ingest frames --video V --probe probe.json --out-dir frames --index frames.json
                                  --fps 25 --size 512 [--crop face|centre] [--start S --end E]
                                  [--jpeg-quality 95] [--allow-short]
                                  [--notices N.json]
  python -m gtalker.ingest audio  --video V --index frames.json --out audio.wav [--audio A --start S --end E]
                                  [--audio-mismatch pad|trim] [--notices N.json]
Each step writes what it decided about the input (resampled frame rate, padded audio, ...) to --notices
(see gtalker.notices). Input that would silently train on wrong data stops the step instead: a cut-off
file (TRUNCATED_S), audio whose length differs from the video's (MISMATCH_S / MISMATCH_FRACTION, unless
the dataset allows padding or trimming), a video shorter than MIN_SECONDS (unless it allows short ones).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gtalker.common import (FPS_DEFAULT, SAMPLE_RATE, InputError, atomic_path, read_json,
                            reports_input_errors, setup_logging, write_json)
from gtalker.crop import CUT_TOLERANCE, Crop, centre_crop, find_crop
from gtalker.io.audio import fit_length, load_audio, write_wav
from gtalker.io.frames import JPEG_QUALITY
from gtalker.io.video import extract_frames, probe, probe_audio
from gtalker.notices import Notices
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.ingest")

# A decodable duration this much shorter than the container's means the file was cut off.
TRUNCATED_S = 1.0
# Audio and video lengths may differ by at most this many seconds and this fraction of the video.
MISMATCH_S = 0.5
MISMATCH_FRACTION = 0.05
# Shorter passages leave too little to learn a head from and to validate on (unless allow_short).
MIN_SECONDS = 10.0
AUDIO_MISMATCH_CHOICES = ("pad", "trim")


@dataclass
class PreprocessConfig:
    """Frame settings of the ingest (config section `preprocess`); each field is a flag of `frames`."""

    fps: float = FPS_DEFAULT           # constant frame rate the video is resampled to
    size: int = 512                    # side of the square frames (px)
    jpeg_quality: int = JPEG_QUALITY   # quality of the frame JPEGs every later step reads
    crop: str = "face"                 # square cut of a non-square video: around the face, or the centre


def probe_video(video: str, audio: str | None = None, notices: Notices | None = None) -> dict[str, Any]:
    """Probe a video; fail when it has no audio and no separate audio file is given."""
    notices = notices or Notices("probe", log)
    info = probe(video)
    missing = info["duration"] - info["decodable_duration"]
    if missing > TRUNCATED_S:
        raise InputError(
            f"{video}: the file is truncated: its header says {info['duration']:.2f} s but only "
            f"{info['decodable_duration']:.2f} s can be decoded (cut off by an interrupted copy or "
            "download?); copy the file again, or, to train on the part that is there, rewrite it with "
            "'ffmpeg -i <file> -c copy <new file>' and use the new file")
    if audio is not None:
        if not Path(audio).exists():
            raise InputError(f"{audio}: audio file not found; fix the dataset's 'audio' in config.yaml")
        audio_info = probe_audio(audio)
        info["audio_source"] = str(audio)
        info["audio_file_duration"] = audio_info["duration"]
    elif not info["has_audio"]:
        raise InputError(f"{video}: the video has no audio track; add an 'audio: <file>' entry to this "
                         "dataset in config.yaml, or use a video with sound")
    else:
        info["audio_source"] = str(video)
    if info["variable_frame_rate"]:
        notices.warn("variable_frame_rate",
                     f"{video}: variable frame rate (median {info['fps']:.3f} fps, average "
                     f"{info['avg_fps']:.3f} fps); frames are resampled to a constant rate, so some "
                     "are repeated or dropped", median_fps=info["fps"], average_fps=info["avg_fps"])
    if info["width"] < 64 or info["height"] < 64:
        raise InputError(f"{video}: frames are only {info['width']}x{info['height']}; at least 64x64 is needed")
    if info["width"] != info["height"]:
        log.info("%s: %dx%d is not square; a square around the face will be cropped", video, info["width"],
                 info["height"])
    return info


def expected_frames(duration: float, fps: float) -> int:
    """Frame count of a passage of `duration` seconds resampled to `fps`."""
    return int(round(duration * fps))


def passage_duration(info: dict[str, Any], start: float | None, end: float | None) -> float:
    """Length in seconds of [start, end) within the video, validated against its duration."""
    total = float(info["video_duration"])
    s = 0.0 if start is None else float(start)
    e = total if end is None else min(float(end), total)
    if s >= total:
        raise InputError(f"{info['path']}: start={s}s is beyond the video's end ({total:.2f}s); fix "
                         "the dataset's 'start' in config.yaml")
    if e <= s:
        raise InputError(f"{info['path']}: empty passage start={s}s end={e}s")
    return e - s


def check_length(video: str, duration: float, allow_short: bool, notices: Notices) -> None:
    """Fail on a passage shorter than MIN_SECONDS unless the dataset allows it (then a notice)."""
    if duration >= MIN_SECONDS:
        return
    if not allow_short:
        raise InputError(
            f"{video}: only {duration:.2f} s of video; at least {MIN_SECONDS:g} s are needed to learn the "
            "head and keep frames apart for validation. Use a longer video (or a longer start/end "
            "passage), or set 'allow_short: true' for this dataset in config.yaml to train on it anyway")
    notices.warn("short_video", f"{video}: only {duration:.2f} s of video (less than {MIN_SECONDS:g} s; "
                 "allow_short: true); expect a weaker head and few validation frames",
                 seconds=round(duration, 3))


def place_crop(video: str, info: dict[str, Any], start: float | None, duration: float, method: str,
               size: int, notices: Notices) -> Crop:
    """The square to cut (gtalker.crop): around the face (method "face") or the centre; notices when the
    face cannot be found or is cut anyway. `size` is the output size."""
    width, height = int(info["width"]), int(info["height"])
    if method == "centre" or width == height:  # a square source (the demo) is taken whole
        return centre_crop(width, height)
    crop, report = find_crop(video, width, height, start or 0.0, duration, min_side=size)
    if report["n_faces"] == 0:
        notices.warn("crop_no_face", f"{video}: no face found in {report['n_samples']} sampled frames; the "
                     f"centre {crop.side}x{crop.side} square is used and may cut the head",
                     sampled=report["n_samples"])
    elif report["max_cut"] > CUT_TOLERANCE:
        notices.warn("crop_cuts_face", f"{video}: the square crop ({crop.side} px at {crop.x0},{crop.y0}) "
                     f"leaves {100 * report['max_cut']:.0f}% of the face box outside in the worst of "
                     f"{report['n_faces']} sampled frames (the head moves more than the square holds, or "
                     "touches the frame's edge); those parts cannot be learnt",
                     max_cut_share=report["max_cut"], faces=report["n_faces"])
    return crop


def run_frames(video: str, probe_json: str, out_dir: str, index: str, fps: float, size: int,
               start: float | None, end: float | None, jpeg_quality: int,
               notices: Notices | None = None, allow_short: bool = False,
               crop: str = "face") -> dict[str, Any]:
    """Extract frames (cropped square per `crop`, "face" or "centre") into out_dir atomically and write
    the frame index JSON."""
    notices = notices or Notices("extract_frames", log)
    info = read_json(probe_json)
    duration = passage_duration(info, start, end)
    check_length(video, duration, allow_short, notices)
    square = place_crop(video, info, start, duration, crop, size, notices)
    with atomic_path(out_dir, is_dir=True) as tmp:
        n = extract_frames(video, tmp, fps=fps, size=size, start=start, end=end, jpeg_quality=jpeg_quality,
                           crop=None if square.method == "centre" else (square.x0, square.y0, square.side))
        if n == 0:
            raise InputError(f"{video}: no frames could be decoded from the passage")
        want = expected_frames(duration, fps)
        if abs(n - want) > 1:
            notices.warn("frame_count", f"{video}: {n} frames decoded, {want} expected from "
                         f"{duration:.3f} s at {fps:g} fps", decoded=n, expected=want)
        for extra in sorted(tmp.iterdir())[want:] if n > want else []:
            extra.unlink()  # ffmpeg may emit one frame past the end; keep round(duration x fps)
        n = min(n, want) if want > 0 else n
    meta = {"n_frames": n, "fps": fps, "size": size, "source": video, "start": start, "end": end,
            "duration": n / fps, "crop": {"x0": square.x0, "y0": square.y0, "side": square.side,
                                          "method": square.method}}
    write_json(index, meta)
    log.info("%s: %d frames at %g fps, %dx%d", video, n, fps, size, size)
    return meta


def check_audio_length(source: str, audio_s: float, video_s: float, mismatch: str | None,
                       notices: Notices, frame_s: float) -> None:
    """Fail when audio and video lengths differ by more than MISMATCH_S or MISMATCH_FRACTION, unless
    `mismatch` ('pad' a shorter audio, 'trim' a longer one) allows it; pads/trims over a frame are notices."""
    diff = audio_s - video_s
    limit = min(MISMATCH_S, MISMATCH_FRACTION * video_s)
    if abs(diff) > limit:
        fix, allowed = ("pad", "padded with silence") if diff < 0 else ("trim", "cut at the video's end")
        if mismatch != fix:
            raise InputError(
                f"{source}: the audio is {abs(diff):.2f} s {'shorter' if diff < 0 else 'longer'} than the "
                f"video ({audio_s:.2f} s against {video_s:.2f} s; at most {limit:.2f} s is accepted), so "
                "lip sync would be learnt from the wrong sound. Give audio that matches the video, or set "
                f"'audio_mismatch: {fix}' for this dataset in config.yaml to have it {allowed}")
    if -diff > frame_s:
        notices.warn("audio_padded", f"{source}: audio is {-diff:.2f} s shorter than the video; padded "
                     "with silence (the mouth learns nothing there)", seconds=round(-diff, 3))
    elif diff > frame_s:
        notices.warn("audio_trimmed", f"{source}: audio is {diff:.2f} s longer than the video; the last "
                     f"{diff:.2f} s are not used", seconds=round(diff, 3))


def run_audio(video: str, index: str, out: str, audio: str | None, start: float | None,
              end: float | None, notices: Notices | None = None, mismatch: str | None = None) -> int:
    """Extract mono 16 kHz audio whose length matches the frame count exactly (checked first: see
    check_audio_length)."""
    notices = notices or Notices("extract_audio", log)
    meta = read_json(index)
    source = audio or video
    # A separate audio file is aligned to the start of the passage, the video's own track is cut alike.
    samples = load_audio(source, SAMPLE_RATE, start=None if audio else start, end=None if audio else end)
    n_samples = int(round(meta["n_frames"] * SAMPLE_RATE / meta["fps"]))
    if len(samples) == 0:
        raise InputError(f"{source}: the audio track is empty")
    check_audio_length(source, len(samples) / SAMPLE_RATE, n_samples / SAMPLE_RATE, mismatch, notices,
                       1.0 / meta["fps"])
    write_wav(out, fit_length(samples, n_samples))
    log.info("%s: wrote %d samples (%.3fs) to %s", source, n_samples, n_samples / SAMPLE_RATE, out)
    return n_samples


@reports_input_errors("gtalker.ingest")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(prog="python -m gtalker.ingest", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("--video", required=True)
    p.add_argument("--audio")
    p.add_argument("--out", required=True)
    f = sub.add_parser("frames")
    f.add_argument("--video", required=True)
    f.add_argument("--probe", required=True)
    f.add_argument("--out-dir", required=True)
    f.add_argument("--index", required=True)
    add_flags(f, PreprocessConfig)
    f.add_argument("--allow-short", action="store_true",
                   help=f"accept a passage shorter than {MIN_SECONDS:g} s (with a notice)")
    a = sub.add_parser("audio")
    a.add_argument("--video", required=True)
    a.add_argument("--index", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--audio")
    a.add_argument("--audio-mismatch", choices=AUDIO_MISMATCH_CHOICES,
                   help="pad a shorter audio with silence / trim a longer one (with a notice) instead of failing")
    for q in (f, a):
        q.add_argument("--start", type=float)
        q.add_argument("--end", type=float)
    for q in (p, f, a):
        q.add_argument("--notices", help="JSON file for what the step decided about the input")
    args = ap.parse_args(argv)
    setup_logging("gtalker.ingest")
    notices = Notices({"probe": "probe", "frames": "extract_frames", "audio": "extract_audio"}[args.cmd], log)
    if args.cmd == "probe":
        write_json(args.out, probe_video(args.video, args.audio, notices))
    elif args.cmd == "frames":
        cfg = from_args(args, PreprocessConfig)
        if cfg.crop not in ("face", "centre"):
            raise InputError(f"preprocess.crop '{cfg.crop}': use face or centre")
        run_frames(args.video, args.probe, args.out_dir, args.index, cfg.fps, cfg.size, args.start,
                   args.end, cfg.jpeg_quality, notices, args.allow_short, cfg.crop)
    else:
        run_audio(args.video, args.index, args.out, args.audio, args.start, args.end, notices,
                  args.audio_mismatch)
    notices.write(args.notices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
