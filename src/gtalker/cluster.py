"""Fail fast on SLURM: every job a run submits must fit a node of its partition.

Without this, a job asking for more CPUs, memory, time or GPUs than any node of its partition offers
stays pending forever (reason PartitionConfig / Resources) while Snakemake waits without a word. The
workflow's `onstart` hook calls `check_jobs` with the jobs it is about to submit and stops the run with
one message that names each rule, what it asks for, what the partition offers and the flag that fixes it.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass, field
from typing import Iterable, Mapping


@dataclass(frozen=True)
class Partition:
    """The largest node of a SLURM partition."""

    name: str
    cpus: int
    mem_mb: int
    gpus: int
    max_minutes: float          # math.inf: no limit
    default: bool = False
    nodes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobRequest:
    """What one job asks SLURM for (as the SLURM executor plugin turns its resources into sbatch flags)."""

    rule: str
    partition: str | None       # None: the cluster's default partition
    cpus: int
    mem_mb: int | None
    gpus: int
    runtime_min: float | None


def slurm_minutes(text: str) -> float:
    """SLURM time limit ('infinite', 'UNLIMITED', 'MM', 'MM:SS', 'HH:MM:SS', 'D-HH[:MM[:SS]]') in minutes."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return math.inf
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
        parts = [int(p) for p in text.split(":")] + [0, 0]
        h, m, s = parts[:3]
    else:
        parts = [int(p) for p in text.split(":")]
        if len(parts) == 1:
            h, m, s = 0, parts[0], 0
        elif len(parts) == 2:
            h, m, s = 0, parts[0], parts[1]
        else:
            h, m, s = parts[:3]
    return days * 1440 + h * 60 + m + s / 60


def gpu_count(gres: str) -> int:
    """GPUs in a sinfo %G field ('gpu:2', 'gpu:a100:4(S:0-1)', '(null)', several comma-separated)."""
    total = 0
    for item in gres.split(","):
        m = re.match(r"gpu(?::[^:(]+)?:(\d+)", item.strip())
        if m:
            total += int(m.group(1))
    return total


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Partitions from `sinfo -h -N -o '%P|%c|%m|%G|%l|%N'` (one line per node and partition)."""
    found: dict[str, Partition] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, cpus, mem, gres, limit, node = (f.strip() for f in line.split("|"))
        default = name.endswith("*")
        name = name.rstrip("*")
        cur = found.get(name)
        mem_mb = int(re.sub(r"\D", "", mem) or 0)
        part = Partition(name, int(re.sub(r"\D", "", cpus) or 0), mem_mb, gpu_count(gres), slurm_minutes(limit),
                         default, [node])
        if cur is not None:
            part = Partition(name, max(cur.cpus, part.cpus), max(cur.mem_mb, part.mem_mb),
                             max(cur.gpus, part.gpus), max(cur.max_minutes, part.max_minutes),
                             cur.default or default, cur.nodes + [node])
        found[name] = part
    return found


def cluster_partitions() -> dict[str, Partition]:
    """The partitions of the SLURM cluster this machine submits to (via sinfo)."""
    try:
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%P|%c|%m|%G|%l|%N"], capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError("sinfo not found: submit from a machine with the SLURM client tools") from None
    if proc.returncode != 0:
        raise RuntimeError(f"sinfo failed: {proc.stderr.strip()[-500:]}")
    return parse_sinfo(proc.stdout)


def request_of(rule: str, resources: Mapping, threads: int) -> JobRequest:
    """A job's SLURM request from its Snakemake resources (cpus_per_task, else threads, as the plugin does)."""
    cpus = resources.get("cpus_per_task") or threads or 1
    gpus = resources.get("gpu") or 0
    gres = str(resources.get("gres") or "")
    if not gpus and "gpu" in gres:
        gpus = gpu_count(gres) or 1
    mem = resources.get("mem_mb")
    runtime = resources.get("runtime")
    return JobRequest(rule, resources.get("slurm_partition") or None, max(1, int(cpus)),
                      int(mem) if mem else None, int(gpus), float(runtime) if runtime else None)


def problems(requests: Iterable[JobRequest], partitions: Mapping[str, Partition]) -> list[str]:
    """One line per rule whose request no node of its partition can satisfy."""
    default = next((p for p in partitions.values() if p.default), None)
    seen: set[tuple] = set()
    out = []
    for req in requests:
        key = (req.rule, req.partition, req.cpus, req.mem_mb, req.gpus, req.runtime_min)
        if key in seen:
            continue
        seen.add(key)
        part = partitions.get(req.partition) if req.partition else default
        if part is None:
            where = f"partition '{req.partition}'" if req.partition else "the default partition"
            names = ", ".join(sorted(partitions)) or "none"
            out.append(f"rule {req.rule}: {where} does not exist (sinfo lists: {names}); set "
                       f"{req.rule}: slurm_partition in profiles/slurm/config.yaml to one of them")
            continue
        issues = []
        if req.cpus > part.cpus:
            issues.append(f"{req.cpus} CPUs (nodes have {part.cpus}; cpus_per_task={part.cpus} or fewer)")
        if req.mem_mb is not None and part.mem_mb and req.mem_mb > part.mem_mb:
            issues.append(f"{req.mem_mb} MB (nodes have {part.mem_mb}; mem_mb={part.mem_mb} or less)")
        if req.gpus > part.gpus:
            issues.append(f"{req.gpus} GPU (nodes have {part.gpus}; a GPU partition, or gpu=0 to run on CPU)")
        if req.runtime_min is not None and req.runtime_min > part.max_minutes:
            issues.append(f"{req.runtime_min:g} min (limit {part.max_minutes:g}; runtime={int(part.max_minutes)})")
        if issues:
            out.append(f"rule {req.rule} on partition '{part.name}' asks for " + ", ".join(issues))
    return out


def fix_hint(lines: list[str]) -> str:
    """The message that stops the run."""
    return ("These jobs would stay pending forever on this SLURM cluster:\n  " + "\n  ".join(lines) +
            "\nEdit default-resources / set-resources in profiles/slurm/config.yaml, or override on the command "
            "line, e.g. --set-resources train_talker:gpu=0 train_talker:slurm_partition=<cpu partition> "
            "(GPU steps run on CPU then, much slower).")


def accounting_enabled(config_text: str | None = None) -> bool:
    """Whether the cluster keeps job accounting (sacct answers), from `scontrol show config`."""
    if config_text is None:
        config_text = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    m = re.search(r"^AccountingStorageType\s*=\s*(\S+)", config_text, re.M)
    return bool(m) and m.group(1) != "accounting_storage/none"


NO_ACCOUNTING = ("this SLURM cluster keeps no job accounting (AccountingStorageType=accounting_storage/none), so "
                 "'sacct' cannot tell Snakemake when jobs finish and the run would hang after the first submission. "
                 "Add --slurm-status-command squeue (jobs are then tracked while slurmctld remembers them, "
                 "MinJobAge, default 300 s) or enable accounting (slurmdbd).")
