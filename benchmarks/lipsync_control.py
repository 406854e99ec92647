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

from gtalker.metrics.control import real_openings, summarise, write_control_inputs  # noqa: E402

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


def feature_cases(root: Path, features_path: Path, backend: str, index: dict, tmp: Path) -> tuple[dict, dict]:
    """The control's inputs as the pipeline makes them (other passage, silent audio), the silence's features;
    returns (control info, case -> feature file)."""
    info = write_control_inputs(features_path, root / "face" / "landmarks.npz", root / "split.json",
                                int(index["n_frames"]), float(index["fps"]), tmp)
    silence_path = tmp / "features_silence.npy"
    run(["gtalker.audio", "features", "--audio", str(tmp / "silence.wav"), "--n-frames", str(index["n_frames"]),
         "--fps", str(index["fps"]), "--backend", backend, "--out", str(silence_path), "--device", "cpu"])
    return info, {"own": features_path, "other": tmp / "features_other.npy", "silence": silence_path}


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
    opening = real_openings(root / "face" / "landmarks.npz")
    out: dict[str, dict] = {}
    metrics_by_case: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="lipsync_control_") as tmp_name:
        tmp = Path(tmp_name)
        info, cases = feature_cases(root, features[0], backend, index, tmp)
        print(f"other passage: shift {info['other_shift_frames']} frames; real mouth openings of the two passages "
              f"r = {info['other_real_mouth_r']:.3f}; |r| of an unrelated passage by chance (95th percentile "
              f"over all passages): {info['chance_abs_r_95']:.2f}")
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
            metrics_by_case[case] = json.loads(metrics_path.read_text())
            out[case] = {k: metrics_by_case[case].get(k) for k in KEYS}
            out[case]["seconds"] = round(time.perf_counter() - start, 1)
            shutil.rmtree(frames, ignore_errors=True)
    summary = summarise(info, metrics_by_case, opening, val)
    for case, figures in summary["cases"].items():
        out[case].update(figures)
        print(f"{case:8s} " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in out[case].items()), flush=True)
    return {**info, "cases": out, "audio_drives_mouth": summary["audio_drives_mouth"]}


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
