"""Head tracking CLI.

  python -m gtalker.fit builtin --out resources/face_models/builtin.npz
  python -m gtalker.fit convert-bfm --bfm-dir resources/face_models/bfm2009 --out bfm2009.npz
  python -m gtalker.fit track --landmarks landmarks.npz --frames-json frames.json --model builtin.npz \
      --out track.npz [--focal-min 600 --focal-max 1500 ... every FitConfig field] [--device auto]
  python -m gtalker.fit cameras --track track.npz --split split.json --out-train t.json --out-val v.json
  python -m gtalker.fit points --track track.npz --model builtin.npz --frames-dir frames --split split.json \
      --init mesh --n-points 10000 --seed 0 --out points_mesh.ply
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gtalker.common import InputError, read_json, reports_input_errors, setup_logging
from gtalker.settings import add_flags, from_args


def _cmd_builtin(args: argparse.Namespace) -> None:
    from gtalker.fit.builtin import build_builtin_model
    from gtalker.fit.facemodel import save

    model = build_builtin_model()
    save(model, args.out)
    print(f"builtin model: {model.n_vertices} vertices, {len(model.triangles)} triangles, "
          f"{model.n_identity} identity and {model.n_expression} expression modes -> {args.out}", file=sys.stderr)


def _cmd_convert_bfm(args: argparse.Namespace) -> None:
    from gtalker.fit.bfm import convert_bfm2009
    from gtalker.fit.facemodel import load, save

    model = convert_bfm2009(args.bfm_dir, load(args.template), args.n_identity, args.n_expression)
    save(model, args.out)


def _cmd_track(args: argparse.Namespace) -> None:
    import torch

    from gtalker.common import get_device
    from gtalker.fit.facemodel import load
    from gtalker.fit.tracker import FitConfig, fit_video, load_landmarks, save_head_fit

    torch.set_num_threads(args.threads)
    lms, valid = load_landmarks(args.landmarks)
    meta = read_json(args.frames_json)
    size = int(meta["size"])
    if int(meta.get("n_frames", len(lms))) != len(lms):
        raise InputError(f"{args.landmarks}: {len(lms)} frames but {args.frames_json} says {meta['n_frames']}; "
                         "rerun the face stage")
    model = load(args.model)
    track = fit_video(model, lms, valid, size, from_args(args, FitConfig), get_device(args.device),
                      focal=args.focal)
    save_head_fit(args.out, track)


def _cmd_cameras(args: argparse.Namespace) -> None:
    from gtalker.fit.cameras import read_split, write_transforms
    from gtalker.fit.tracker import load_head_fit

    track = load_head_fit(args.track)
    write_transforms(track, read_split(args.split, track.n_frames), args.out_train, args.out_val)


def _cmd_points(args: argparse.Namespace) -> None:
    from gtalker.fit.cameras import read_split
    from gtalker.fit.facemodel import load
    from gtalker.fit.points import colour_points, make_points, write_ply
    from gtalker.fit.tracker import load_head_fit

    track = load_head_fit(args.track)
    model = load(args.model)
    split = read_split(args.split, track.n_frames)
    points, normals = make_points(model, track, args.init, args.n_points, args.seed)
    colours = colour_points(points, normals, track, args.frames_dir, split["train"])
    write_ply(args.out, points, colours)
    lo, hi = points.min(0), points.max(0)
    print(f"{len(points)} points ({args.init}) in box {np.round(lo, 3)} .. {np.round(hi, 3)} m -> {args.out}",
          file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """The CLI; every FitConfig field is a flag of `track`."""
    from gtalker.fit.tracker import FitConfig

    ap = argparse.ArgumentParser(prog="python -m gtalker.fit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("builtin", help="(re)build the builtin face model file")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_builtin)

    p = sub.add_parser("convert-bfm", help="convert BFM 2009 + expression basis to the common format")
    p.add_argument("--bfm-dir", required=True)
    p.add_argument("--template", required=True, help="builtin model (for automatic landmark indices)")
    p.add_argument("--n-identity", type=int, required=True,
                   help="identity components kept (fit.bfm_n_identity)")
    p.add_argument("--n-expression", type=int, required=True,
                   help="expression components kept (fit.bfm_n_expression)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_convert_bfm)

    p = sub.add_parser("track", help="fit the face model to every frame's landmarks")
    p.add_argument("--landmarks", required=True)
    p.add_argument("--frames-json", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--focal", type=float, default=None, help="fixed focal (px); skips the search")
    add_flags(p, FitConfig)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_cmd_track)

    p = sub.add_parser("cameras", help="write transforms_train.json / transforms_val.json")
    p.add_argument("--track", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--out-train", required=True)
    p.add_argument("--out-val", required=True)
    p.set_defaults(func=_cmd_cameras)

    p = sub.add_parser("points", help="write an initial point cloud (PLY)")
    p.add_argument("--track", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--frames-dir", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--init", required=True, choices=["mesh", "random", "landmarks"])
    p.add_argument("--n-points", type=int, required=True, help="points of the cloud (fit.n_points)")
    p.add_argument("--seed", type=int, required=True, help="seed of the point sampling (fit.seed)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_points)
    return ap


@reports_input_errors("gtalker.fit")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point; InputError -> logged, exit status 1."""
    args = build_parser().parse_args(argv)
    setup_logging("gtalker.fit")
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
