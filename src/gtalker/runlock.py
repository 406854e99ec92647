"""Recover from a killed Snakemake run: release the directory lock it left, and only that one.

Snakemake locks the working directory while it runs (.snakemake/locks/) and a run killed with kill -9
(or a power loss) leaves the lock behind, so that the next run stops with "Directory cannot be locked".
The workflow records, once Snakemake holds its lock (onstart), which lock files are its own and its
process id; a normal end removes the record. A record whose process is gone therefore belongs to a
killed run: the next run removes that run's lock files (as --unlock would) and says so. Locks without a
record (another Snakemake, an older run) are left for `snakemake --unlock`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

LOCKS = Path(".snakemake/locks")
RECORDS = Path(".snakemake/gtalker-runs")


def lock_files(workdir: str | os.PathLike = ".") -> set[str]:
    """Names of the lock files present now."""
    locks = Path(workdir) / LOCKS
    return {p.name for p in locks.iterdir()} if locks.is_dir() else set()


def _start_time(pid: int) -> str | None:
    """Start time of process `pid` (clock ticks since boot, from /proc), or None when it is not running.
    Where /proc is missing, "?" for any live process."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        text = stat.read_text()
        return text.rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "?"


def _alive(record: dict) -> bool:
    """True when the process that wrote `record` still runs (the same process, not a reused id)."""
    now = _start_time(int(record["pid"]))
    return now is not None and (now == "?" or record.get("start") in (None, "?", now))


def record_run(locks_before: set[str], workdir: str | os.PathLike = ".") -> Path | None:
    """Record this process and the lock files it added since `locks_before` (call once locked)."""
    ours = sorted(lock_files(workdir) - locks_before)
    if not ours:
        return None
    records = Path(workdir) / RECORDS
    records.mkdir(parents=True, exist_ok=True)
    path = records / f"{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "start": _start_time(os.getpid()), "locks": ours}))
    os.replace(tmp, path)
    return path


def release_run(workdir: str | os.PathLike = ".") -> None:
    """Remove this process's record (at the normal end of the run; Snakemake releases its locks)."""
    (Path(workdir) / RECORDS / f"{os.getpid()}.json").unlink(missing_ok=True)


def remove_stale_locks(workdir: str | os.PathLike = ".") -> list[str]:
    """Remove the lock files of recorded runs whose process is gone; returns their names."""
    records = Path(workdir) / RECORDS
    removed: list[str] = []
    if not records.is_dir():
        return removed
    for path in sorted(records.glob("*.json")):
        mine: list[str] = []
        try:
            record = json.loads(path.read_text())
            if _alive(record):
                continue
            for name in record["locks"]:
                lock = Path(workdir) / LOCKS / Path(name).name
                if lock.exists():
                    lock.unlink()
                    mine.append(lock.name)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # an unreadable record: drop it, its locks stay for --unlock
        path.unlink(missing_ok=True)
        removed += mine
        if mine:
            print(f"gtalker: removed the lock left by a killed run (process {path.stem} is gone); "
                  "its unfinished jobs run again", file=sys.stderr)
    return removed
