"""CLI of the render stage.

  python -m gtalker.render val --model M --dataset-dir results/D --split S --features F --audio A \\
      --out-video val.mp4 --out-frames val_frames --out-stats render_stats.json [--size 512 --fps 25]
  python -m gtalker.render custom --model M --dataset-dir results/D --split S --features F_new \\
      --audio new.wav --out-video custom/new.mp4 [--pose-source val]
  python -m gtalker.render attention --model M --dataset-dir results/D --split S --features F --audio A \\
      --out-video attention.mp4 [--size 256 --max-frames 0]
"""

from __future__ import annotations

import argparse
import sys

import torch

from gtalker.common import get_device, reports_input_errors, setup_logging


def common_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="talker model.pt")
    p.add_argument("--dataset-dir", required=True, help="results/<dataset>")
    p.add_argument("--split", required=True, help="split.json")
    p.add_argument("--features", required=True, help="audio features [N,16,C] .npy")
    p.add_argument("--audio", required=True, help="audio muxed into the video (the dataset's or new speech)")
    p.add_argument("--out-video", required=True)
    p.add_argument("--size", type=int, default=512, help="output resolution (square)")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--backend", default="auto", help="rasteriser backend")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--train-filter", choices=("true", "false"), default="true",
                   help="above the training resolution, keep the Gaussians' training footprint")
    p.add_argument("--raster-size", default="train",
                   help="rasterise the head at this size (px, 'train' = the model's training size, 'full' = "
                        "--size) and upsample it onto the full-size background")


@reports_input_errors("gtalker.render")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gtalker.render", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    val = sub.add_parser("val", help="render the validation passage")
    common_flags(val)
    val.add_argument("--out-frames", required=True, help="folder of PNG frames named by frame index")
    val.add_argument("--out-stats", required=True, help="render_stats.json")
    val.add_argument("--batch", type=int, default=1)
    val.add_argument("--warmup", type=int, default=2, help="batches left out of the timing")
    cus = sub.add_parser("custom", help="render new speech (any length; poses loop back and forth)")
    common_flags(cus)
    cus.add_argument("--batch", type=int, default=1)
    cus.add_argument("--pose-source", choices=("val", "train"), default="val")
    att = sub.add_parser("attention", help="video of the attention maps per condition token")
    common_flags(att)
    att.add_argument("--max-frames", type=int, default=0, help="0 = the whole validation passage")
    args = ap.parse_args(argv)
    setup_logging("gtalker.render")
    from gtalker.render import jobs

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    if args.command == "val":
        jobs.render_val(args.model, args.dataset_dir, args.split, args.features, args.audio,
                        args.out_video, args.out_frames, args.out_stats, args.size, args.fps, device,
                        batch=args.batch, backend=args.backend, warmup=args.warmup,
                        train_filter=args.train_filter == "true", inner_size=args.raster_size)
    elif args.command == "custom":
        jobs.render_custom(args.model, args.dataset_dir, args.split, args.features, args.audio,
                           args.out_video, args.size, args.fps, device, batch=args.batch,
                           backend=args.backend, pose_source=args.pose_source,
                           train_filter=args.train_filter == "true", inner_size=args.raster_size)
    else:
        jobs.render_attention(args.model, args.dataset_dir, args.split, args.features, args.audio,
                              args.out_video, args.size, args.fps, device, max_frames=args.max_frames,
                              backend=args.backend, train_filter=args.train_filter == "true",
                              inner_size=args.raster_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
