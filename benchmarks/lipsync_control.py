"""Benchmark: does the audio drive the mouth of a trained talker? A control for the lip-sync score.

Takes a finished run (a working directory where `snakemake` built results/<dataset>/<variant>/), renders
the validation passage three times with the same poses, blinks and torso, changing only the audio
features, and evaluates each with the evaluate step's CLI:

  own      the passage's own audio
  other    the audio of another passage of the same video
  silence  features of digital silence

"other" takes the features of the frames `shift` frames away (circularly), so every validation frame hears
real speech of the same speaker said at another time; the shift is the one where the real mouth openings
of the two passages (the evaluation's measure, on the face stage's landmarks) are least correlated.

The mouth opening of each rendering is compared with the real mouth of the passage it heard
(`heard_mouth_r`) and with the real mouth of the validation passage (`mouth_open_r`). The audio drives the
mouth when the own rendering follows its real mouth (r >= 0.7), the other one follows the passage it heard
(r >= 0.5) and the silent one barely moves (`mouth_motion_sd`, the spread of its opening over the
passage, at most half the own rendering's). `mouth_open_r` of "other" and "silence" against the
validation mouth is reported beside `chance_abs_r_95`, the 95th percentile of |r| between the validation
passage's real mouth and every other passage's: on a short passage a mouth that follows something else,
or hardly moves, still correlates with it by that much by chance (and more where the passage's head
motion goes with its mouth, since the poses stay those of the validation passage), so that r is no test
on its own. Prints the figures and saves benchmarks/lipsync_control.json (git-ignored).

  python benchmarks/lipsync_control.py --workdir DIR [--dataset demo] [--variant base]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from gtalker.metrics.landmarks import mouth_opening  # noqa: E402
from gtalker.metrics.lipsync import pearson  # noqa: E402

KEYS = ("psnr", "ssim", "lmd", "mouth_open_r", "av_offset_frames")


def run(cmd: list[str]) -> None:
    """Run one gtalker CLI with src/ on the path; raise with its output on failure."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", *cmd], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def render_settings(config_path: Path) -> dict[str, str]:
    """The render flags of the run's config, as the pipeline's render_val gets them (keys the config
    leaves out take the step's defaults; render.size null -> preprocess.size)."""
    from gtalker.ingest import PreprocessConfig
    from gtalker.render.__main__ import RenderConfig
    from gtalker.settings import defaults, format_value

    cfg = yaml.safe_load(config_path.read_text()) or {}
    pre = {**defaults(PreprocessConfig), **(cfg.get("preprocess") or {})}
    render = {**defaults(RenderConfig), **(cfg.get("render") or {})}
    keep = ("size", "train_filter", "raster_size")
    flags = {f"--{k.replace('_', '-')}": format_value(render[k] if k != "size" else render[k] or pre["size"])
             for k in keep}
    return {**flags, "--fps": format_value(pre["fps"])}


def shift_correlations(gap: np.ndarray, val: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every circular shift at least the passage's length away from it, and the Pearson r of the real mouth
    opening of the validation passage with that of the shifted one (the passage heard at that shift)."""
    idx = np.asarray(val)
    n, m = len(gap), len(val)
    shifts = np.arange(m, n - m + 1)
    r = np.array([pearson(gap[idx], gap[(idx - s) % n]) for s in shifts])
    keep = np.isfinite(r)
    if not keep.any():
        raise SystemExit(f"the video ({n} frames) is too short for another passage of {m} frames")
    return shifts[keep], r[keep]


def pick_shift(gap: np.ndarray, val: list[int]) -> tuple[int, float, float]:
    """The shift whose passage's real mouth opening is least correlated with the validation one's, that r,
    and the chance level: the 95th percentile of |r| over all shifts (how well an unrelated passage of
    this video follows the validation mouth by chance; speech is smooth, so it is far above 1/sqrt(m))."""
    shifts, r = shift_correlations(gap, val)
    best = int(np.argmin(np.abs(r)))
    return int(shifts[best]), float(r[best]), float(np.quantile(np.abs(r), 0.95))


def feature_cases(features_path: Path, shift: int, backend: str, n_frames: int, fps: float,
                  tmp: Path) -> dict[str, Path]:
    """Feature files for the three cases: own, another passage (circular shift), digital silence."""
    own = np.load(features_path)
    other_path = tmp / "features_other.npy"
    np.save(other_path, np.roll(own, shift, axis=0))
    silent_wav = tmp / "silence.wav"
    import soundfile

    soundfile.write(silent_wav, np.zeros(int(16000 * n_frames / fps) + 1600, np.float32), 16000)
    silence_path = tmp / "features_silence.npy"
    run(["gtalker.audio", "features", "--audio", str(silent_wav), "--n-frames", str(n_frames),
         "--fps", str(fps), "--backend", backend, "--out", str(silence_path), "--device", "cpu"])
    return {"own": features_path, "other": other_path, "silence": silence_path}


def control(workdir: Path, dataset: str, variant: str, config_path: Path, threads: int) -> dict:
    """Render and evaluate the three audio cases; returns the shift, its chance level and the metrics."""
    root = workdir / "results" / dataset
    run_dir = root / variant
    index = json.loads((root / "ingest" / "frames.json").read_text())
    features = sorted((root / "audio").glob("features_*.npy"))
    if not features:
        raise SystemExit(f"no audio features under {root / 'audio'}: is {workdir} a finished run?")
    backend = features[0].stem.removeprefix("features_")
    flags = render_settings(config_path)
    val = json.loads((root / "split.json").read_text())["val"]
    opening = np.array([mouth_opening(lms) for lms in np.load(root / "face" / "landmarks.npz")["lms"]])
    shift, chance, chance_95 = pick_shift(opening, val)
    print(f"other passage: shift {shift} frames; real mouth openings of the two passages r = {chance:.3f}; "
          f"|r| of an unrelated passage by chance (95th percentile over all passages): {chance_95:.2f}")
    idx = np.asarray(val)
    heard_real = {"own": opening[idx], "other": opening[(idx - shift) % len(opening)], "silence": None}
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="lipsync_control_") as tmp_name:
        tmp = Path(tmp_name)
        cases = feature_cases(features[0], shift, backend, int(index["n_frames"]), float(index["fps"]), tmp)
        for case, feats in cases.items():
            start = time.perf_counter()
            frames = tmp / f"{case}_frames"
            run(["gtalker.render", "val", "--model", str(run_dir / "talker" / "model.pt"),
                 "--dataset-dir", str(root), "--split", str(root / "split.json"), "--features", str(feats),
                 "--audio", str(root / "ingest" / "audio.wav"), "--out-video", str(tmp / f"{case}.mp4"),
                 "--out-frames", str(frames), "--out-stats", str(tmp / f"{case}_stats.json"),
                 "--device", "cpu", "--threads", str(threads),
                 *[x for kv in flags.items() for x in kv]])
            metrics_path = tmp / f"{case}_metrics.json"
            run(["gtalker.metrics", "evaluate", "--rendered", str(frames), "--real", str(root / "ingest" / "frames"),
                 "--gt", str(root / "face" / "gt"), "--split", str(root / "split.json"),
                 "--audio", str(root / "ingest" / "audio.wav"), "--frames-json", str(root / "ingest" / "frames.json"),
                 "--device", "cpu", "--threads", str(threads), "--out", str(metrics_path)])
            metrics = json.loads(metrics_path.read_text())
            rendered = np.array(metrics["per_frame"]["mouth_open_rendered"], np.float64)
            out[case] = {k: metrics.get(k) for k in KEYS}
            if heard_real[case] is not None:  # the real mouth of the passage whose audio was heard
                r = pearson(rendered, heard_real[case])
                out[case]["heard_mouth_r"] = r if np.isfinite(r) else None
            out[case]["mouth_motion_sd"] = float(np.nanstd(rendered))
            out[case]["seconds"] = round(time.perf_counter() - start, 1)
            print(f"{case:8s} " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in out[case].items()), flush=True)
            shutil.rmtree(frames, ignore_errors=True)
    return {"other_shift_frames": shift, "other_real_mouth_r": chance, "chance_abs_r_95": chance_95,
            "val_frames": len(val), "cases": out, "audio_drives_mouth": audio_drives_mouth(out)}


def audio_drives_mouth(cases: dict[str, dict]) -> bool:
    """The verdict of the module docstring: own r >= 0.7, other follows what it heard (r >= 0.5), the
    silent mouth moves at most half as much as the own one."""
    own, other, silence = cases["own"], cases["other"], cases["silence"]
    return ((own["mouth_open_r"] or 0) >= 0.7 and (other["heard_mouth_r"] or 0) >= 0.5
            and silence["mouth_motion_sd"] <= 0.5 * own["mouth_motion_sd"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True, help="working directory of a finished run")
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--variant", default="base")
    ap.add_argument("--configfile", default=str(REPO / "config.yaml"), help="the config the run used")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "lipsync_control.json"))
    args = ap.parse_args()
    found = control(Path(args.workdir), args.dataset, args.variant, Path(args.configfile), args.threads)
    result = {"workdir": args.workdir, "dataset": args.dataset, "variant": args.variant, **found}
    print("audio drives the mouth (own r >= 0.7, other follows what it heard r >= 0.5, silent mouth motion "
          f"<= half the own): {result['audio_drives_mouth']}")
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
