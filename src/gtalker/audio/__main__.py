"""CLI: audio features for a dataset's audio or any audio file (wav, mp3, video; any rate, stereo).

  python -m gtalker.audio features --audio A (--frames-json frames.json | --n-frames N | --fps 25)
                                   --backend mel|melnorm|deepspeech|hubert --out features.npy
                                   [--n-mels 80 --norm-mels 40 ... every MelConfig field]
                                   [--deepspeech-model ... --hubert-model ... --hubert-layer ...]
                                   [--device auto]

With --frames-json the frame count and rate come from the ingest index; with --fps alone the frame count
covers the whole audio; --n-frames alone assumes 25 fps. The DeepSpeech backend needs an ONNX conversion
of the v0.1.0 graph: see gtalker/audio/deepspeech.py. --precomputed F takes the features from F (a
reference folder's aud_ds.npy [N, 16, C] / aud_hu.npy [N, 2, C]) instead of computing them: checked against the
frame count, cut to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time

import numpy as np

from gtalker.audio.features import FeatureConfig, extract_features, frames_for_duration
from gtalker.audio.mel import MelConfig
from gtalker.common import (FPS_DEFAULT, InputError, atomic_path, read_json, reports_input_errors,
                            setup_logging)
from gtalker.io.audio import load_audio
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.audio")
RUNTIME = ("mel", "device", "threads")  # FeatureConfig fields that are not flags of their own


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gtalker.audio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("features", help="audio features [N_frames, 16, C] aligned to video frames")
    f.add_argument("--audio", required=True, help="any audio or video file ffmpeg can decode")
    f.add_argument("--frames-json", help="ingest index with n_frames and fps")
    f.add_argument("--n-frames", type=int, help="number of video frames (default: cover the audio)")
    f.add_argument("--fps", type=float, help=f"video frame rate (default {FPS_DEFAULT})")
    f.add_argument("--out", required=True, help="output .npy")
    add_flags(f, MelConfig)
    add_flags(f, FeatureConfig, skip=RUNTIME)
    f.add_argument("--device", default="auto", help="auto, cpu or cuda[:i] (deepspeech/hubert)")
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--precomputed", default=None, help="take the features from this .npy [N, 16, C]")
    return parser


def frame_grid(args: argparse.Namespace, n_samples: int) -> tuple[int, float]:
    """(n_frames, fps) from --frames-json, or --n-frames/--fps."""
    if args.frames_json:
        index = read_json(args.frames_json)
        try:
            n_frames, fps = int(index["n_frames"]), float(index["fps"])
        except KeyError as err:
            raise InputError(f"{args.frames_json}: missing key {err}; rerun extract_frames") from err
        if args.fps is not None and abs(args.fps - fps) > 1e-6:
            raise InputError(f"--fps {args.fps} disagrees with {args.frames_json} (fps {fps})")
        return n_frames, fps
    fps = float(args.fps) if args.fps is not None else float(FPS_DEFAULT)
    if fps <= 0:
        raise InputError(f"--fps must be positive, got {fps}")
    n_frames = args.n_frames if args.n_frames is not None else frames_for_duration(n_samples, fps)
    return n_frames, fps


def resolve_device(spec: str, backend: str) -> str:
    """'cpu' for the mel backends; else the torch device the spec names."""
    if backend in ("mel", "melnorm"):
        return "cpu"
    from gtalker.common import get_device

    return str(get_device(spec))


def precomputed_features(path: str, n_frames: int, fps: float) -> np.ndarray:
    """Features [n_frames, 16, C] from a file of at least n_frames windows (logged; extra rows cut), or of
    the steps of each frame (ER-NeRF's aud_hu.npy [N, 2, 1024]), cut into our windows."""
    from gtalker.audio.windowing import windows_from_steps

    try:
        feats = np.load(path)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable .npy ({err})") from err
    if feats.ndim == 3 and feats.shape[1] == int(round(50 / fps)) and feats.shape[1] != 16:
        feats = windows_from_steps(feats, fps)
    if feats.ndim != 3 or feats.shape[1] != 16:
        raise InputError(f"{path}: shape {feats.shape}; expected [N, 16, C] windows per video frame")
    if len(feats) < n_frames:
        raise InputError(f"{path}: {len(feats)} windows for {n_frames} video frames")
    if not np.all(np.isfinite(feats)):
        raise InputError(f"{path}: contains NaN/inf")
    log.info("features taken from %s %s (first %d rows)", path, feats.shape, n_frames)
    return feats[:n_frames].astype(np.float32)


def run_features(args: argparse.Namespace) -> np.ndarray:
    """Load the audio, extract the features, write them atomically; return them."""
    t0 = time.perf_counter()
    samples = load_audio(args.audio)
    n_frames, fps = frame_grid(args, len(samples))
    cfg = dataclasses.replace(from_args(args, FeatureConfig, skip=RUNTIME), mel=from_args(args, MelConfig),
                              device=resolve_device(args.device, args.backend), threads=args.threads)
    log.info("%s: %.2f s of audio -> %d frames at %g fps, backend %s", args.audio,
             len(samples) / 16000, n_frames, fps, args.backend)
    if args.precomputed:
        feats = precomputed_features(args.precomputed, n_frames, fps)
    else:
        feats = extract_features(samples, n_frames, fps, cfg, source=args.audio)
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, feats)
    log.info("wrote %s %s in %.2f s", args.out, feats.shape, time.perf_counter() - t0)
    return feats


@reports_input_errors("gtalker.audio")
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("gtalker.audio")
    if args.command == "features":
        run_features(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
