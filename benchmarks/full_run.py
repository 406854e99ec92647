"""Benchmark: the whole default run, `snakemake --cores all` from nothing, timed end to end.

Runs the workflow with the repository's config.yaml in a fresh working directory, then prints the wall
time against the 30-minute budget of the 2-core CPU machine, the time of every rule (from the per-rule
benchmark files and the job log), the stages' shares, the quality figures of every variant
(metrics.json) and, after the timed run, the lip-sync control of benchmarks/lipsync_control.py (the
validation passage rendered with another passage's audio and with silence). Saves everything to
benchmarks/full_run.json (git-ignored).

  python benchmarks/full_run.py [--workdir /tmp/gtalker_full] [--cores all] [--keep] [--no-control]
                                [--config key=value ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 30 * 60
STAGES = {
    "demo": ("make_demo_video", "make_demo_speech"),
    "kernels": ("compile_kernels",),
    "ingest": ("probe", "extract_frames", "extract_audio"),
    "face": ("detect_landmarks", "parse_faces", "extract_background", "composite_torso", "lip_boxes",
             "detect_blinks", "split_dataset", "export_reference"),
    "audio": ("extract_audio_features", "custom_audio_features"),
    "fit": ("fit_face_model", "init_points", "make_cameras"),
    "canonical": ("train_canonical",),
    "talker": ("train_talker",),
    "render": ("render_val", "render_custom", "render_attention"),
    "evaluate": ("evaluate", "compare", "report_video"),
}
_FINISHED = re.compile(r"^\[(.+?)\]\n(?:local)?rule (\w+):", re.M)


def run_workflow(workdir: Path, cores: str, config: list[str]) -> tuple[float, int, str]:
    """Run snakemake; returns (wall seconds, return code, combined output)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / "config.yaml"), "--cores", cores]
    if config:
        cmd += ["--config", *config]
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, proc.returncode, proc.stdout + proc.stderr


def rule_times(workdir: Path) -> dict[str, float]:
    """Seconds per rule summed over its jobs, from the benchmark TSVs Snakemake wrote."""
    out: dict[str, float] = {}
    for tsv in (workdir / "logs" / "benchmarks").rglob("*.tsv"):
        with open(tsv) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            continue
        rule = tsv.stem.split(".")[0]
        rule = re.sub(r"_(mel|deepspeech|hubert|mesh|random|landmarks|builtin)$", "", rule)
        out[rule] = out.get(rule, 0.0) + float(rows[0]["s"])
    return out


def stage_times(rules: dict[str, float]) -> dict[str, float]:
    """Benchmarked seconds per stage (rules without a benchmark file count as zero)."""
    return {stage: round(sum(rules.get(r, 0.0) for r in names), 1) for stage, names in STAGES.items()}


def quality(workdir: Path) -> dict[str, dict]:
    """Selected figures of every metrics.json."""
    keys = ("psnr_face", "ssim_face", "lpips_face", "psnr_head", "ssim_head", "lpips_head",
            "psnr", "ssim", "lpips", "lmd", "mouth_open_r", "av_offset_frames", "lse_c", "lse_d",
            "render_fps", "n_gaussians", "train_seconds", "peak_memory_mb")
    out = {}
    for path in sorted((workdir / "results").glob("*/*/metrics.json")):
        data = json.loads(path.read_text())
        out[f"{path.parent.parent.name}/{path.parent.name}"] = {k: data.get(k) for k in keys}
    return out


def lipsync_controls(workdir: Path) -> dict[str, dict]:
    """benchmarks/lipsync_control.py on every dataset/variant of the finished run (untimed)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from lipsync_control import control

    out = {}
    for path in sorted((workdir / "results").glob("*/*/metrics.json")):
        dataset, variant = path.parent.parent.name, path.parent.name
        print(f"\nlip-sync control, {dataset}/{variant}:", flush=True)
        out[f"{dataset}/{variant}"] = control(workdir, dataset, variant, REPO / "config.yaml", threads=2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default=None, help="fresh working directory (default: a new temp dir)")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--config", nargs="*", default=[], help="snakemake --config overrides")
    ap.add_argument("--no-control", action="store_true", help="skip the lip-sync control after the run")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "full_run.json"))
    args = ap.parse_args()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gtalker_full_"))
    if workdir.exists() and any(workdir.iterdir()):
        print(f"{workdir} is not empty; give a fresh --workdir (the run must start from nothing)")
        return 2
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"running the default workflow in {workdir} with --cores {args.cores} ...", flush=True)
    wall, code, output = run_workflow(workdir, args.cores, args.config)
    rules = rule_times(workdir)
    stages = stage_times(rules)
    result = {
        "wall_seconds": round(wall, 1), "returncode": code, "budget_seconds": BUDGET_SECONDS,
        "budget_fraction": round(wall / BUDGET_SECONDS, 3), "within_budget": code == 0 and wall <= BUDGET_SECONDS,
        "cores": args.cores, "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "processor": platform.processor(), "python": platform.python_version(),
        "rule_seconds": {k: round(v, 1) for k, v in sorted(rules.items())}, "stage_seconds": stages,
        "benchmarked_seconds": round(sum(rules.values()), 1), "quality": quality(workdir),
        "config_overrides": args.config,
    }
    print(f"\nwall time {wall / 60:.1f} min (budget {BUDGET_SECONDS / 60:.0f} min: "
          f"{100 * result['budget_fraction']:.0f}%), snakemake exit code {code}")
    print("\nstage        seconds  share")
    total = max(sum(stages.values()), 1e-9)
    for stage, sec in stages.items():
        print(f"{stage:<12} {sec:7.1f}  {100 * sec / total:4.0f}%")
    for name, figures in result["quality"].items():
        print(f"\n{name}: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in figures.items()))
    if code != 0:
        print("\n" + output[-3000:])
    elif not args.no_control and not args.config:
        result["lipsync_control"] = lipsync_controls(workdir)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nsaved {args.out}")
    if not args.keep and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
