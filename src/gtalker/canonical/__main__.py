"""CLI: train the canonical Gaussian head of one dataset.

python -m gtalker.canonical --dataset-dir results/demo --points results/demo/fit/points_builtin.ply \
    --head results/demo/base/canonical/head.pt --ply .../gaussians.ply --log .../train_log.json \
    [--iterations 1500 --resolution 128 ... every canonical setting] --device auto --threads 2
"""

from __future__ import annotations

from gtalker.omp import set_default_waiting

set_default_waiting()  # before torch loads libgomp; the environment wins

import argparse  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402

from gtalker.canonical.train import CanonicalConfig, train  # noqa: E402
from gtalker.common import get_device, reports_input_errors, setup_logging  # noqa: E402
from gtalker.settings import add_flags, from_args  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gtalker.canonical", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset-dir", required=True, help="results/<dataset> (face/, fit/, split.json)")
    p.add_argument("--points", required=True, help="initial point cloud PLY (fit/points_<init>.ply)")
    p.add_argument("--head", required=True, help="output head.pt")
    p.add_argument("--ply", required=True, help="output gaussians.ply (3DGS layout)")
    p.add_argument("--log", required=True, help="output train_log.json")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: checkpoint.pt beside --head)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    add_flags(p, CanonicalConfig)
    return p


@reports_input_errors("gtalker.canonical")
def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    setup_logging("gtalker.canonical")
    if args["threads"] > 0:
        torch.set_num_threads(args["threads"])
    device = get_device(args["device"])
    cfg = from_args(args, CanonicalConfig)
    train(args["dataset_dir"], args["points"], args["head"], args["ply"], args["log"], cfg, device,
          checkpoint=args["checkpoint"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
