"""Benchmark: the ablation set of method.md section 6 on the demo (issue 14), as one table.

Runs `snakemake --configfile config.yaml workflow/ablation.yaml` (what `make ablation` runs) in a working
directory, or with --no-run reads a finished one, and saves results/<dataset>/ablation.tsv as a table in
benchmarks/ablation.json (docs/measurements.md shows it), with the run's wall time and the ablation's
settings. The pose error of the no-face-model variant's landmark cameras against the demo's truth is
benchmarks/landmark_cameras.py's.

  python benchmarks/ablation.py [--workdir /tmp/gtalker_ablation] [--no-run] [--dataset demo] [--cores all]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
SET = REPO / "workflow" / "ablation.yaml"


def run_set(workdir: Path, cores: str) -> tuple[float, int]:
    """Run the ablation set in workdir; (wall seconds, return code)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / "config.yaml"), str(SET), "--cores", cores]
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env)
    return time.perf_counter() - start, proc.returncode


def read_table(tsv: Path) -> dict:
    """ablation.tsv as {"columns", "rows"}; numbers as floats, NA as None."""
    with open(tsv) as fh:
        lines = list(csv.reader(fh, delimiter="\t"))
    if not lines:
        raise SystemExit(f"{tsv} is empty: rerun the ablation_table rule")

    def cell(text: str):
        if text == "NA":
            return None
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return text

    return {"columns": lines[0], "rows": [[cell(c) for c in row] for row in lines[1:]]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/gtalker_ablation"))
    ap.add_argument("--no-run", action="store_true", help="read a finished run in --workdir")
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "ablation.json")
    args = ap.parse_args(argv)
    result: dict = {}
    if not args.no_run:
        wall, code = run_set(args.workdir, args.cores)
        if code != 0:
            print(f"the ablation run failed (exit {code}); see {args.workdir}/logs", file=sys.stderr)
            return code
        result["wall_seconds"] = round(wall, 1)
    root = args.workdir / "results" / args.dataset
    from gtalker.metrics.ablation import COLUMNS

    result = {"table": read_table(root / "ablation.tsv"), **result,
              "columns": {name: text for name, _source, _path, _digits, text in COLUMNS},
              "dataset": args.dataset, "variants": yaml.safe_load(SET.read_text())["variants"],
              "cpu_count": os.cpu_count(), "machine": platform.machine()}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join("\t".join("" if v is None else str(v) for v in row)
                    for row in [result["table"]["columns"]] + result["table"]["rows"]))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
