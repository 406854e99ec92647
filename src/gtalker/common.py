"""Small helpers shared by every stage: logging, device choice, atomic outputs, JSON.

A stage may import this module, `gtalker.io` and the shared tier (see CONTRACTS.md), never another
stage's internals.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

FPS_DEFAULT = 25
SAMPLE_RATE = 16000


class InputError(RuntimeError):
    """Bad user input: the message names the file/frame/key and says what to do."""


def is_disk_full(err: BaseException) -> bool:
    """True for the error of a write to a full disk (or an exhausted quota)."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def disk_full_message(err: OSError) -> str:
    """What to tell the user when a write hit a full disk."""
    where = err.filename or "an output file"
    return (f"{where}: no space left on the disk ({err.strerror}); the half-written output was removed. "
            "Free some space (df -h shows what is left) and rerun")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def setup_logging(name: str, level: int = logging.INFO) -> logging.Logger:
    """Log to stderr with timestamps (rules redirect stderr into their log file)."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    return logging.getLogger(name)


CliMain = Callable[..., int]


def reports_input_errors(logger_name: str, *also: type[Exception]) -> Callable[[CliMain], CliMain]:
    """Decorator for a step's CLI `main`: an InputError (whose message names the file and the fix), a
    full disk, or one of the exception types `also`, is logged as an error on `logger_name` and exits 1
    with no traceback; otherwise main's own return value."""
    caught = (InputError, *also)

    def wrap(main: CliMain) -> CliMain:
        @functools.wraps(main)
        def run(*args: Any, **kwargs: Any) -> int:
            try:
                return main(*args, **kwargs)
            except caught as err:
                logging.getLogger(logger_name).error("%s", err)
                return 1
            except OSError as err:
                if not is_disk_full(err):
                    raise
                logging.getLogger(logger_name).error("%s", disk_full_message(err))
                return 1
        return run
    return wrap


def get_device(spec: str = "auto") -> "Any":
    """Return a torch.device: 'auto' picks CUDA when present, else CPU."""
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device '{spec}' requested but CUDA is not available; set device: auto or cpu")
    return torch.device(spec)


def _temp_pattern(final: Path, is_dir: bool) -> re.Pattern[str]:
    """Names of the temporary siblings atomic_path makes for `final` (tempfile's 8 random characters)."""
    if is_dir:
        return re.compile(rf"\.{re.escape(final.name)}\.[a-z0-9_]{{8}}\.tmp")
    return re.compile(rf"\.{re.escape(final.stem)}\.[a-z0-9_]{{8}}\.tmp{re.escape(''.join(final.suffixes))}")


def remove_stale_temps(path: str | os.PathLike, is_dir: bool = False) -> list[Path]:
    """Delete the hidden temporary siblings of `path` that a killed earlier attempt left behind (kill -9
    skips atomic_path's own cleanup); returns what was removed. Snakemake runs one job per output, so
    no live writer of `path` can own them."""
    final = Path(path)
    if not final.parent.is_dir():
        return []
    pattern = _temp_pattern(final, is_dir)
    stale = [p for p in final.parent.iterdir() if pattern.fullmatch(p.name)]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
        logging.getLogger("gtalker").warning("removed %s, left by an interrupted earlier run", p)
    return stale


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto `path` only if the block succeeds.

    Guarantees that a failing step leaves no half-written output behind, and removes what a killed
    earlier attempt at the same output left (remove_stale_temps).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final, is_dir)
    suffix = "".join(final.suffixes)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{suffix}", dir=final.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        if is_disk_full(err) and not getattr(err, "filename", None):
            raise OSError(err.errno, err.strerror, str(final)) from err  # name the output
        raise
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~umask)  # mkstemp/mkdtemp make them private
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    os.replace(tmp, final)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (indented, numpy scalars converted)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, Path):
            return str(obj)
        raise TypeError(f"not JSON serialisable: {type(obj)}")

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, naming it in the error when it is missing or corrupt."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{p}: not valid JSON ({err}); delete it and rerun the rule that makes it") from err


def match_numba_threads() -> None:
    """Numba's parallel kernels use torch's thread count (within numba's maximum): call before one runs."""
    import numba
    import torch

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def grads_finite(module: Any) -> bool:
    """True when every gradient of the torch module is finite: one sum per tensor, as NaN or inf anywhere
    makes its sum so (a sum beyond float range, ~1e38, counts as non-finite too)."""
    import torch

    sums = [p.grad.sum() for p in module.parameters() if p.grad is not None]
    return not sums or bool(torch.isfinite(torch.stack(sums)).all())
