"""Train/validation split of a video's frames (reference rule: the first floor(T * 10/11) frames train,
the rest validate; the fraction is configurable), keeping at least MIN_VAL_FRAMES for validation where
the video has twice as many; fewer are a notice. Output: split.json {"train": [...], "val": [...]}.

CLI: python -m gtalker.face.split --frames-json frames.json --train-fraction 0.909 --out split.json
                                  [--notices N.json]
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from dataclasses import dataclass

from gtalker.common import InputError, read_json, reports_input_errors, setup_logging, write_json
from gtalker.notices import Notices
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.face.split")

# Fewer validation frames make the metrics noise; a video that cannot spare them gives at most half.
MIN_VAL_FRAMES = 25


@dataclass
class SplitConfig:
    """Settings of the split (config section `split`); each field is a CLI flag."""

    train_fraction: float = 10 / 11  # the reference's share of training frames


def split_frames(n_frames: int, train_fraction: float, min_val: int = MIN_VAL_FRAMES) -> dict[str, list[int]]:
    """First floor(n * fraction) frames train, the rest validate (both non-empty); the validation part is
    raised to `min_val` frames, but never past half of the video."""
    if n_frames < 2:
        raise InputError(f"{n_frames} frame(s): at least 2 are needed to split into train and validation")
    if not 0 < train_fraction < 1:
        raise InputError(f"split.train_fraction={train_fraction}: must be between 0 and 1")
    n_train = min(max(1, math.floor(n_frames * train_fraction + 1e-9)), n_frames - 1)
    n_train = min(n_train, max(n_frames - min_val, (n_frames + 1) // 2))
    return {"train": list(range(n_train)), "val": list(range(n_train, n_frames))}


def note_short_validation(split: dict[str, list[int]], notices: Notices, min_val: int = MIN_VAL_FRAMES) -> None:
    """Record a notice when the validation part is shorter than `min_val` frames, saying why."""
    n_val, n = len(split["val"]), len(split["train"]) + len(split["val"])
    if n_val < min_val:
        notices.warn("few_validation_frames",
                     f"only {n_val} validation frames ({min_val} wanted): the video has {n} frames and at "
                     "least half of them train; the metrics on so few frames are noisy", n_val=n_val,
                     n_frames=n)


@reports_input_errors("gtalker.face.split", KeyError)
def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames-json", required=True)
    add_flags(ap, SplitConfig)
    ap.add_argument("--out", required=True)
    ap.add_argument("--notices", help="JSON file for what the step decided about the input")
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.split")
    meta = read_json(args.frames_json)
    split = split_frames(int(meta["n_frames"]), from_args(args, SplitConfig).train_fraction)
    notices = Notices("split_dataset", log)
    note_short_validation(split, notices)
    write_json(args.out, split)
    notices.write(args.notices)
    log.info("split: %d train, %d validation frames", len(split["train"]), len(split["val"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
