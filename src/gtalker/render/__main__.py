"""CLI of the render stage.

  python -m gtalker.render val --model M --dataset-dir results/D --split S --features F --audio A \\
      --out-video val.mp4 --out-frames val_frames --out-stats render_stats.json [--size 512 --fps 25]
      [... every RenderConfig field]
  python -m gtalker.render custom --model M --dataset-dir results/D --split S --features F_new \\
      --audio new.wav --out-video custom/new.mp4 [--pose-source val] [--train-features F --match-features true]
  python -m gtalker.render attention --model M --dataset-dir results/D --split S --features F --audio A \\
      --out-video attention.mp4 [--attention-size 256 --attention-frames 0]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import torch

from gtalker.common import FPS_DEFAULT, InputError, get_device, reports_input_errors, setup_logging
from gtalker.settings import add_flags, from_args


@dataclass
class RenderConfig:
    """Settings of the render jobs (config section `render`, less custom_audio and demo_speech); each
    field is a flag of every job."""

    size: int | None = None         # output resolution (square); None = the frames' (preprocess.size)
    batch: int = 4                  # frames per rasterisation batch
    warmup: int = 2                 # val: batches left out of the timing
    pose_source: str = "val"        # custom: poses/blinks from the val or train passage, looped
    attention_size: int = 192       # attention: output resolution
    attention_frames: int = 0       # attention: frames (0 = the whole validation passage)
    backend: str = "auto"           # rasteriser backend
    raster_size: str = "train"      # rasterise the head at this size (px, 'train' = the model's training
                                    # size, 'full' = the output size) and upsample it onto the background
    train_filter: bool = True       # above the training resolution, keep the Gaussians' training footprint
    match_features: bool = True     # custom: new speech's features moved to the training audio's statistics


def common_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="talker model.pt")
    p.add_argument("--dataset-dir", required=True, help="results/<dataset>")
    p.add_argument("--split", required=True, help="split.json")
    p.add_argument("--features", required=True, help="audio features [N,16,C] .npy")
    p.add_argument("--audio", required=True, help="audio muxed into the video (the dataset's or new speech)")
    p.add_argument("--out-video", required=True)
    p.add_argument("--fps", type=float, default=FPS_DEFAULT)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    add_flags(p, RenderConfig)


@reports_input_errors("gtalker.render")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gtalker.render", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    val = sub.add_parser("val", help="render the validation passage")
    common_flags(val)
    val.add_argument("--out-frames", required=True, help="folder of PNG frames named by frame index")
    val.add_argument("--out-stats", required=True, help="render_stats.json")
    cus = sub.add_parser("custom", help="render new speech (any length; poses loop back and forth)")
    common_flags(cus)
    cus.add_argument("--train-features", help="the training audio's features (for --match-features)")
    att = sub.add_parser("attention", help="video of the attention maps per condition token")
    common_flags(att)
    args = ap.parse_args(argv)
    setup_logging("gtalker.render")
    from gtalker.render import jobs

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    cfg = from_args(args, RenderConfig)
    if cfg.pose_source not in ("val", "train"):
        raise InputError(f"render.pose_source: '{cfg.pose_source}' unknown; use val or train")
    if args.command == "val":
        jobs.render_val(args.model, args.dataset_dir, args.split, args.features, args.audio,
                        args.out_video, args.out_frames, args.out_stats, cfg.size, args.fps, device,
                        batch=cfg.batch, backend=cfg.backend, warmup=cfg.warmup,
                        train_filter=cfg.train_filter, inner_size=cfg.raster_size)
    elif args.command == "custom":
        if cfg.match_features and not args.train_features:
            raise InputError("render custom: --match-features needs --train-features (the dataset's audio "
                             "features), or pass --match-features false")
        jobs.render_custom(args.model, args.dataset_dir, args.split, args.features, args.audio,
                           args.out_video, cfg.size, args.fps, device, batch=cfg.batch,
                           backend=cfg.backend, pose_source=cfg.pose_source,
                           train_filter=cfg.train_filter, inner_size=cfg.raster_size,
                           train_features=args.train_features if cfg.match_features else None)
    else:
        jobs.render_attention(args.model, args.dataset_dir, args.split, args.features, args.audio,
                              args.out_video, cfg.attention_size, args.fps, device,
                              max_frames=cfg.attention_frames, backend=cfg.backend,
                              train_filter=cfg.train_filter, inner_size=cfg.raster_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
