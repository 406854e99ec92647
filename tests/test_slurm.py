"""profiles/slurm on a real SLURM: a small target runs as SLURM jobs with the profile's resources, and a
job that cannot fit a node stops the run at once with the fix. Skipped without a reachable SLURM
(start a one-node one with `sudo tools/local-slurm.sh start`, or `start-no-accounting` for a cluster
without slurmdbd: then the run must stop with the hint, and runs with --slurm-status-command squeue)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TINY, planned_rules, snakemake
from gtalker.cluster import (Partition, accounting_enabled, gpu_count, parse_sinfo, problems, request_of,
                             slurm_minutes)

# CPU steps only: this target needs no GPU partition.
TARGETS = ["results/demo/split.json", "results/demo/audio/features_mel.npy"]


def local_rules() -> set[str]:
    """Rules marked `localrule: True` (they run in the main Snakemake process, not as SLURM jobs)."""
    found = set()
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            if re.search(r"^\s+localrule:\s*True", block, re.M):
                found.add(block.split(":", 1)[0].strip())
    return found


def slurm_up() -> bool:
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    return ping.returncode == 0 and "UP" in ping.stdout


needs_slurm = pytest.mark.skipif(not slurm_up(), reason="no SLURM here (sudo tools/local-slurm.sh start)")


def test_sinfo_parsing_and_fit_problems() -> None:
    text = "debug*|2|23081|(null)|infinite|vm\ngpu|16|128000|gpu:a100:4(S:0-1)|2-00:00:00|g1\n" \
           "gpu|8|64000|gpu:2|1-00:00:00|g2\n"
    parts = parse_sinfo(text)
    assert parts["debug"] == Partition("debug", 2, 23081, 0, float("inf"), True, ["vm"])
    assert parts["gpu"].gpus == 4 and parts["gpu"].cpus == 16 and parts["gpu"].max_minutes == 2880
    assert gpu_count("(null)") == 0 and gpu_count("gpu:1,gpu:tesla:2") == 3
    assert slurm_minutes("1:30:00") == 90 and slurm_minutes("45") == 45 and slurm_minutes("1-02") == 1560
    ok = request_of("probe", {"mem_mb": 4000, "runtime": 60}, threads=1)
    big = request_of("extract", {"cpus_per_task": 4, "mem_mb": 8000}, threads=2)
    gpu_job = request_of("train_talker", {"slurm_partition": "debug", "gpu": 1}, threads=2)
    missing = request_of("render_val", {"slurm_partition": "gpu-a100", "gpu": 1}, threads=2)
    found = problems([ok, big, gpu_job, missing], parts)
    assert len(found) == 3
    assert "rule extract on partition 'debug' asks for 4 CPUs (nodes have 2" in found[0]
    assert "1 GPU (nodes have 0" in found[1]
    assert "partition 'gpu-a100' does not exist (sinfo lists: debug, gpu)" in found[2]
    assert accounting_enabled("AccountingStorageHost = localhost\nAccountingStorageType   = accounting_storage/slurmdbd\n")
    assert not accounting_enabled("AccountingStorageType   = accounting_storage/none\n")


RECORD = ["Comment", "State", "Partition", "CPUs", "Mem", "Timelimit", "ExitCode"]


def slurm_jobs(since: str, accounting: bool) -> list[dict[str, str]]:
    """SLURM's own records of the jobs submitted since `since`: the accounting database (sacct), or, on
    a cluster without accounting, slurmctld's memory of finished jobs (scontrol, for MinJobAge)."""
    if accounting:
        fields = ["Comment", "State", "Partition", "AllocCPUS", "ReqMem", "Timelimit", "ExitCode"]
        out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", since, "-o", ",".join(f + "%300" for f in fields)],
                             capture_output=True, text=True, check=True).stdout
        return [dict(zip(RECORD, line.split("|"))) for line in out.splitlines() if line.strip()]
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True).stdout
    jobs = []
    for line in out.splitlines():
        kv = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if kv.get("SubmitTime", "") >= since:
            jobs.append(dict(zip(RECORD, (kv.get(k, "") for k in ("Comment", "JobState", "Partition", "NumCPUs",
                                                                "MinMemoryNode", "TimeLimit", "ExitCode")))))
    return jobs


@needs_slurm
@pytest.mark.slow
def test_profile_runs_jobs_on_slurm_with_its_resources(tmp_path: Path) -> None:
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    planned = planned_rules(snakemake(tmp_path, TINY, targets=TARGETS, extra=["-n"]))
    expected = set(planned) - local_rules()
    assert {"make_demo_video", "extract_frames", "extract_audio_features"} <= expected, planned
    flags = ["--workflow-profile", str(REPO / "profiles/slurm"), "--slurm-init-seconds-before-status-checks", "5",
             "--latency-wait", "10"]
    accounting = accounting_enabled()
    if not accounting:  # the profile alone would hang after the first job: the run stops at once and says why
        stopped = snakemake(tmp_path, TINY, targets=TARGETS, extra=flags, check=False)
        assert stopped.returncode != 0 and "--slurm-status-command squeue" in stopped.stderr, stopped.stderr[-2000:]
        flags = ["--slurm-status-command", "squeue"] + flags
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 2))
    proc = snakemake(tmp_path, TINY, targets=TARGETS, extra=flags)
    assert (tmp_path / TARGETS[0]).exists() and (tmp_path / TARGETS[1]).exists()
    jobs = [j for j in slurm_jobs(since, accounting) if j["Comment"].startswith("rule_")]
    by_rule = {j["Comment"][len("rule_"):].split("_wildcards_")[0]: j for j in jobs}
    assert set(by_rule) == expected, (set(by_rule), proc.stderr[-3000:])
    threads = {"extract_audio_features": 2}
    runtime = profile["default-resources"]["runtime"]
    for rule, job in by_rule.items():
        assert job["State"] == "COMPLETED" and job["ExitCode"] == "0:0", job
        assert job["Partition"] == "debug", job                      # the cluster's default partition
        assert int(job["CPUs"]) == threads.get(rule, 1), job          # the rule's threads
        assert job["Mem"] == f"{profile['default-resources']['mem_mb']}M", job
        assert slurm_minutes(job["Timelimit"]) == runtime, job


@needs_slurm
def test_job_that_cannot_fit_stops_the_run_at_once(tmp_path: Path) -> None:
    cpus = max(p.cpus for p in parse_sinfo(subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%P|%c|%m|%G|%l|%N"], capture_output=True, text=True).stdout).values())
    t0 = time.monotonic()
    proc = snakemake(tmp_path, TINY, targets=["results/demo/ingest/probe.json"], check=False, extra=[
        "--set-resources", f"probe:cpus_per_task={cpus + 1}", "make_demo_video:gpu=1",
        "--workflow-profile", str(REPO / "profiles/slurm")])
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert f"rule probe on partition 'debug' asks for {cpus + 1} CPUs (nodes have {cpus}" in text, text[-3000:]
    assert "rule make_demo_video on partition 'debug' asks for 1 GPU (nodes have 0" in text
    assert time.monotonic() - t0 < 120
    assert not (tmp_path / "results/_demo/demo.mp4").exists()     # nothing was submitted
