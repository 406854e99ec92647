"""Train/validation split of a video's frames (reference rule: the first floor(T * 10/11) frames train,
the rest validate; the fraction is configurable). Output: split.json {"train": [...], "val": [...]}.

CLI: python -m gtalker.face.split --frames-json frames.json --train-fraction 0.909 --out split.json
"""

from __future__ import annotations

import argparse
import logging
import math
import sys

from gtalker.common import InputError, read_json, reports_input_errors, setup_logging, write_json

log = logging.getLogger("gtalker.face.split")


def split_frames(n_frames: int, train_fraction: float) -> dict[str, list[int]]:
    """First floor(n * fraction) frames train, the rest validate (both non-empty)."""
    if n_frames < 2:
        raise InputError(f"{n_frames} frame(s): at least 2 are needed to split into train and validation")
    if not 0 < train_fraction < 1:
        raise InputError(f"split.train_fraction={train_fraction}: must be between 0 and 1")
    n_train = min(max(1, math.floor(n_frames * train_fraction + 1e-9)), n_frames - 1)
    return {"train": list(range(n_train)), "val": list(range(n_train, n_frames))}


@reports_input_errors("gtalker.face.split", KeyError)
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames-json", required=True)
    ap.add_argument("--train-fraction", type=float, default=10 / 11)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.split")
    meta = read_json(args.frames_json)
    split = split_frames(int(meta["n_frames"]), args.train_fraction)
    write_json(args.out, split)
    log.info("split: %d train, %d validation frames", len(split["train"]), len(split["val"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
