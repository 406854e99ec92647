"""The static-camera assumption, measured on the built-in scenes (issue 12, item 2).

  python benchmarks/background_motion.py [--scenes default hard] [--seconds 10] [--size 512]
      [--workdir /tmp/gtalker_bgmotion] -> prints a table, writes benchmarks/background_motion.json

For each demo scene it runs the workflow (Snakemake, the repository's config.yaml with `demo.scene`,
`demo.seconds` and `demo.size` overridden) up to results/demo/warnings.json: demo video, ingest,
landmarks, parsing, static background with its motion report (face/background.json), gathered notices.
It records the report's figures (share of the background that differs from the static image beyond
noise, camera path, PSNR of the static image against the real background, the background mode chosen),
the notices, and whether the end-of-run summary Snakemake prints names the background motion.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_suffix(".json")
FIGURES = ("changed_share", "changed_share_worst", "camera_path_px", "camera_speed_px", "background_psnr",
           "measured_steps", "unmeasured_steps", "moving", "background_mode", "max_share", "max_path_px")


def run_scene(scene: str, seconds: float, size: int, work: Path, cores: int) -> dict:
    """Run the workflow for one scene up to its warnings; return the figures."""
    work.mkdir(parents=True, exist_ok=True)
    override = work / "override.yaml"
    override.write_text(yaml.safe_dump({"demo": {"scene": scene, "seconds": seconds, "size": size}}))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(REPO / "config.yaml"), str(override), "--cores", str(cores),
           "results/demo/warnings.json", "results/demo/face/background.json"]
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"scene {scene}: snakemake failed\n{proc.stderr[-4000:]}")
    report = json.loads((work / "results/demo/face/background.json").read_text())
    warnings = json.loads((work / "results/demo/warnings.json").read_text())["warnings"]
    summary = proc.stderr[proc.stderr.find("gtalker warnings"):] if "gtalker warnings" in proc.stderr else ""
    return {
        "scene": scene, "seconds": seconds, "size": size, "wall_s": round(wall, 1),
        **{k: report.get(k) for k in FIGURES},
        "notices": [f"[{w['step']}] {w['code']}" for w in warnings],
        "summary_names_background_motion": "the background moves" in summary,
        "summary_lines": [line for line in summary.splitlines() if "extract_background" in line],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", nargs="+", default=["default", "hard"])
    ap.add_argument("--seconds", type=float, default=10.0, help="demo length (ingest needs 10 s or more)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/gtalker_bgmotion")
    args = ap.parse_args()
    rows = [run_scene(s, args.seconds, args.size, Path(args.workdir) / s, args.cores) for s in args.scenes]
    print(f"{'scene':8} {'changed':>8} {'worst':>7} {'cam px':>7} {'bg dB':>6} {'mode':>9} summary")
    for r in rows:
        print(f"{r['scene']:8} {100 * r['changed_share']:7.1f}% {100 * r['changed_share_worst']:6.1f}% "
              f"{r['camera_path_px']:7.2f} {r['background_psnr'] or 0:6.1f} {r['background_mode']:>9} "
              f"{'warned' if r['summary_names_background_motion'] else '-'}")
    result = {"benchmark": "background_motion", "machine": platform.platform(), "python": sys.version.split()[0],
              "thresholds": {"max_share": rows[0]["max_share"], "max_path_px": rows[0]["max_path_px"]},
              "scenes": rows}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
