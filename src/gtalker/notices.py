"""Decisions about the input that change the result, shown to the user at the end of the run.

A step that decides something about its input (resampled a variable frame rate, padded the audio, kept
one of two faces, cropped into the face, saw the background move, ...) records it here as well as in
its log:

    notices = Notices("extract_audio")
    notices.warn("audio_padded", f"{src}: audio is 1.20 s shorter than the video; padded with silence",
                 seconds=1.2)
    notices.write(args.notices)          # the rule's output results/<dataset>/notices/<step>.json

Every step writes its notice file, empty when nothing was noticed, so that Snakemake tracks it like any
output. The rule `gather_warnings` merges a dataset's files into results/<dataset>/warnings.json, and the
end-of-run summary prints them.

CLI:
  python -m gtalker.notices gather --dataset D --out results/D/warnings.json results/D/notices/*.json
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from gtalker.common import InputError, read_json, reports_input_errors, setup_logging, write_json

log = logging.getLogger("gtalker.notices")

Figure = float | int | str | bool | None


@dataclass(frozen=True)
class Notice:
    """One decision: the step that made it, a stable code, a sentence for the user, its figures."""

    step: str
    code: str
    message: str
    figures: dict[str, Figure] = field(default_factory=dict)


class Notices:
    """Collects one step's notices; each is logged as a warning when recorded."""

    def __init__(self, step: str, logger: logging.Logger | None = None) -> None:
        self.step = step
        self.items: list[Notice] = []
        self._log = logger or log

    def warn(self, code: str, message: str, **figures: Figure) -> None:
        """Record a notice (and log it). `message` names the file/frame, the figure and what it costs."""
        self.items.append(Notice(self.step, code, message, dict(figures)))
        self._log.warning("%s", message)

    def write(self, path: str | os.PathLike | None) -> None:
        """Write the notices as a JSON list (atomically; an empty list when there are none)."""
        if path is not None:
            write_json(path, [asdict(n) for n in self.items])


def read_notices(path: str | os.PathLike) -> list[Notice]:
    """Notices from one step's file, or from a gathered warnings.json."""
    data = read_json(path)
    items = data["warnings"] if isinstance(data, dict) else data
    try:
        return [Notice(d["step"], d["code"], d["message"], dict(d.get("figures", {}))) for d in items]
    except (KeyError, TypeError) as err:
        raise InputError(f"{path}: not a notice file ({err}); delete it and rerun the step that makes it") from err


def gather(paths: Iterable[str | os.PathLike], dataset: str, out: str | os.PathLike) -> list[Notice]:
    """Merge per-step notice files into one warnings.json for `dataset`, in the order given."""
    notices = [n for p in paths for n in read_notices(p)]
    write_json(out, {"dataset": dataset, "n_warnings": len(notices), "warnings": [asdict(n) for n in notices]})
    return notices


def summary_lines(warnings_json: str | os.PathLike) -> list[str]:
    """Lines for the end-of-run summary of one dataset's warnings.json (none when it has no warnings)."""
    path = Path(warnings_json)
    if not path.exists():
        return []
    data = read_json(path)
    notices = read_notices(path)
    if not notices:
        return []
    lines = [f"  {data.get('dataset', path.parent.name)}: {len(notices)} warning(s) ({path})"]
    lines += [f"    [{n.step}] {n.message}" for n in notices]
    return lines


@reports_input_errors("gtalker.notices")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(prog="python -m gtalker.notices", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gather", help="merge per-step notice files into warnings.json")
    g.add_argument("--dataset", required=True)
    g.add_argument("--out", required=True)
    g.add_argument("files", nargs="*")
    args = ap.parse_args(argv)
    setup_logging("gtalker.notices")
    notices = gather(args.files, args.dataset, args.out)
    log.info("%s: %d warning(s) gathered into %s", args.dataset, len(notices), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
