"""CLI of the deformation stage.

  python -m gtalker.talker train --dataset-dir results/D --head results/D/V/canonical/head.pt \\
      --features results/D/audio/features_mel.npy --split results/D/split.json \\
      --out-model results/D/V/talker/model.pt --out-log results/D/V/talker/train_log.json \\
      --device auto [--iterations 800 --batch-size 8 --tokens audio,eye,view,null ...]
  python -m gtalker.talker download-vgg --out resources/vgg16-397923af.pth

Every field of DeformConfig and TrainConfig is a flag (underscores become dashes; lists are
comma-separated; booleans are true/false).
"""

from __future__ import annotations

import argparse
import sys

import torch

from gtalker.common import get_device, reports_input_errors, setup_logging
from gtalker.settings import add_flags, from_args
from gtalker.talker.deform import DeformConfig

INTERNAL = {"audio_channels", "feature_dim"}  # set from the data, not by the user


def build_parser() -> argparse.ArgumentParser:
    """The CLI: `train` (every DeformConfig/TrainConfig field is a flag) and `download-vgg`."""
    from gtalker.talker.measure import ProbeConfig
    from gtalker.talker.train import TrainConfig

    ap = argparse.ArgumentParser(prog="python -m gtalker.talker", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train the deformation stage")
    tr.add_argument("--dataset-dir", required=True, help="results/<dataset>")
    tr.add_argument("--head", required=True, help="canonical head.pt")
    tr.add_argument("--features", required=True, help="audio features [N,16,C] .npy")
    tr.add_argument("--split", required=True, help="split.json")
    tr.add_argument("--out-model", required=True)
    tr.add_argument("--out-log", required=True)
    tr.add_argument("--checkpoint", default=None, help="resumable checkpoint (default: next to the model)")
    tr.add_argument("--device", default="auto")
    tr.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    tr.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    add_flags(tr, DeformConfig, skip=INTERNAL)
    add_flags(tr, TrainConfig)
    pr = sub.add_parser("probe", help="critique figures of a trained model (cost, disentanglement, attention)")
    pr.add_argument("--model", required=True)
    pr.add_argument("--dataset-dir", required=True)
    pr.add_argument("--features", required=True)
    pr.add_argument("--split", required=True)
    add_flags(pr, ProbeConfig)
    pr.add_argument("--threads", type=int, default=0)
    pr.add_argument("--out", required=True)
    dl = sub.add_parser("download-vgg", help="fetch the VGG16 weights of the perceptual loss")
    dl.add_argument("--out", required=True)
    return ap


@reports_input_errors("gtalker.talker")
def main(argv: list[str] | None = None) -> int:
    from gtalker.talker.train import TrainConfig

    args = build_parser().parse_args(argv)
    setup_logging("gtalker.talker")
    if args.command == "download-vgg":
        from gtalker.talker.perceptual import download_vgg16

        download_vgg16(args.out)
        return 0
    if args.command == "probe":
        from gtalker.common import InputError, read_json, write_json
        from gtalker.talker.measure import ProbeConfig, measure, spread
        from gtalker.talker.model import load

        if args.threads > 0:
            torch.set_num_threads(args.threads)
        model = load(args.model)
        cfg = from_args(args, ProbeConfig)
        split = read_json(args.split)
        if not isinstance(split, dict) or not split.get("val"):
            raise InputError(f"{args.split}: no 'val' frames to probe; rerun the split rule")
        val = [int(i) for i in split["val"]]
        write_json(args.out, measure(model, args.dataset_dir, args.features, spread(val, cfg.probe_frames),
                                     model.train_size or 128, probes=cfg.jacobian_probes))
        return 0
    from gtalker.talker.train import train

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    deform_cfg = DeformConfig.from_dict(vars(args))
    train_cfg = from_args(args, TrainConfig)
    train(args.dataset_dir, args.head, args.features, args.split, args.out_model, args.out_log,
          deform_cfg, train_cfg, get_device(args.device), checkpoint=args.checkpoint,
          stop_after=args.stop_after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
