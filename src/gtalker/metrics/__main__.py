"""CLI of the evaluation stage.

  python -m gtalker.metrics evaluate --rendered val_frames --real frames --gt gt --split split.json
        --audio audio.wav --frames-json frames.json [--parsing face/parsing] [--render-stats render_stats.json]
        [--train-log train_log.json --canonical-log canonical/train_log.json]
        [--lpips-alexnet P --lpips-linear P --syncnet-model P --max-offset 10 --syncnet-vshift 15]
        [--dataset D --variant V] [--device auto] --out metrics.json
  python -m gtalker.metrics compare --metrics a/metrics.json b/metrics.json --tsv compare.tsv --md compare.md
  python -m gtalker.metrics download --name lpips_alexnet|lpips_linear|syncnet --out resources/FILE
  python -m gtalker.metrics ablation --dataset D --variants a b --metrics a/metrics.json b/metrics.json \\
      --probes a/talker/probe.json b/talker/probe.json --tsv ablation.tsv --md ablation.md
  python -m gtalker.metrics link --src render/val.mp4 --out results/report/D/V/val.mp4
  python -m gtalker.metrics control-inputs --features F.npy --landmarks face/landmarks.npz --split split.json \
      --frames-json frames.json --out-dir results/D/control
  python -m gtalker.metrics control --control control.json --own metrics.json --other other.json \
      --silence silence.json --landmarks face/landmarks.npz --split split.json --out lipsync_control.json
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time

from gtalker.common import InputError, get_device, read_json, reports_input_errors, setup_logging, write_json
from gtalker.settings import add_flags, from_args

log = logging.getLogger("gtalker.metrics")
RUNTIME = ("device", "per_frame")  # EvaluateConfig fields set here, not flags


def build_parser() -> argparse.ArgumentParser:
    """The CLI; every EvaluateConfig setting is a flag of `evaluate`."""
    from gtalker.metrics.evaluate import EvaluateConfig

    parser = argparse.ArgumentParser(prog="python -m gtalker.metrics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("evaluate", help="metrics.json of one validation passage")
    for name in ("rendered", "real", "gt", "split", "audio", "frames-json", "out"):
        e.add_argument(f"--{name}", required=True)
    e.add_argument("--render-stats")
    e.add_argument("--train-log")
    e.add_argument("--canonical-log")
    e.add_argument("--parsing", help="face/parsing label maps: metrics inside the head mask")
    add_flags(e, EvaluateConfig, skip=RUNTIME)
    e.add_argument("--dataset")
    e.add_argument("--variant")
    e.add_argument("--device", default="auto")
    e.add_argument("--threads", type=int, default=2)
    c = sub.add_parser("compare", help="one table over metrics.json files")
    c.add_argument("--metrics", nargs="*", default=[])
    c.add_argument("--tsv", required=True)
    c.add_argument("--md", required=True)
    ab = sub.add_parser("ablation", help="one dataset's ablation table (results/<dataset>/ablation.tsv/.md)")
    ab.add_argument("--dataset", required=True)
    ab.add_argument("--variants", nargs="+", required=True)
    ab.add_argument("--metrics", nargs="+", required=True, help="metrics.json per variant, same order")
    ab.add_argument("--probes", nargs="+", required=True, help="talker/probe.json per variant, same order")
    ab.add_argument("--controls", nargs="*", default=[], help="lipsync_control.json per variant, same order")
    ab.add_argument("--variants-json", default="{}", help="the variants' overrides (the 'changes' column)")
    ab.add_argument("--tsv", required=True)
    ab.add_argument("--md", required=True)
    ci = sub.add_parser("control-inputs", help="the lip-sync control's other-passage features and silent audio")
    for name in ("features", "landmarks", "split", "frames-json", "out-dir"):
        ci.add_argument(f"--{name}", required=True)
    co = sub.add_parser("control", help="the lip-sync control's figures from its three renderings' metrics")
    for name in ("control", "own", "other", "silence", "landmarks", "split", "out"):
        co.add_argument(f"--{name}", required=True)
    link = sub.add_parser("link", help="hard-link (or copy) a file into the report folder, atomically")
    link.add_argument("--src", required=True)
    link.add_argument("--out", required=True)
    d = sub.add_parser("download", help="fetch optional evaluation weights (sha256-checked)")
    d.add_argument("--name", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--url", help="another source of the same file")
    return parser


def run_evaluate(args: argparse.Namespace) -> dict:
    import torch

    from gtalker.metrics.evaluate import EvalInputs, EvaluateConfig, evaluate

    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    inp = EvalInputs(rendered=args.rendered, real=args.real, gt=args.gt, split=args.split, audio=args.audio,
                     frames_json=args.frames_json, render_stats=args.render_stats, train_log=args.train_log,
                     canonical_log=args.canonical_log, parsing=args.parsing)
    opts = dataclasses.replace(from_args(args, EvaluateConfig, skip=RUNTIME), device=str(get_device(args.device)))
    result = {"dataset": args.dataset, "variant": args.variant, **evaluate(inp, opts)}
    result["evaluate_seconds"] = round(time.perf_counter() - t0, 2)
    write_json(args.out, result)
    log.info("face box: PSNR %s SSIM %s LPIPS %s; head mask: PSNR %s",
             *(result.get(k) for k in ("psnr_face", "ssim_face", "lpips_face", "psnr_head")))
    log.info("full frame: PSNR %s SSIM %s LPIPS %s LMD %s mouth r %s AV offset %s LSE-C %s -> %s",
             *(result.get(k) for k in ("psnr", "ssim", "lpips", "lmd", "mouth_open_r", "av_offset_frames",
                                       "lse_c")), args.out)
    for key, why in result["null_reasons"].items():
        log.info("%s not computed: %s", key, why)
    return result


def link_file(src: str, out: str) -> None:
    """Hard-link src to out (copy across file systems), replacing out atomically."""
    import os
    import shutil

    from gtalker.common import atomic_path

    if not os.path.isfile(src):
        raise InputError(f"{src}: file not found; rerun the rule that renders it")
    with atomic_path(out) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


@reports_input_errors("gtalker.metrics")
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("gtalker.metrics")
    if args.command == "evaluate":
        run_evaluate(args)
    elif args.command == "compare":
        from gtalker.metrics.compare import table_rows, write_markdown, write_tsv

        rows = table_rows(args.metrics)
        write_tsv(rows, args.tsv)
        write_markdown(rows, args.md)
        log.info("%d rows -> %s, %s", len(rows), args.tsv, args.md)
    elif args.command == "ablation":
        import json

        from gtalker.metrics.ablation import ablation_rows, write_ablation
        from gtalker.report.tables import overrides

        settings = json.loads(args.variants_json)
        changes = {v: ", ".join(overrides(settings.get(v, {}))) for v in args.variants}
        write_ablation(ablation_rows(args.variants, args.metrics, args.probes, args.controls), args.dataset,
                       changes, args.tsv, args.md)
    elif args.command == "control-inputs":
        from gtalker.metrics.control import write_control_inputs

        index = read_json(args.frames_json)
        info = write_control_inputs(args.features, args.landmarks, args.split, int(index["n_frames"]),
                                    float(index["fps"]), args.out_dir)
        log.info("other passage: shift %d frames (real mouth r %.3f; chance |r| 95%%: %.2f) -> %s",
                 info["other_shift_frames"], info["other_real_mouth_r"], info["chance_abs_r_95"], args.out_dir)
    elif args.command == "control":
        from gtalker.metrics.control import real_openings, summarise

        metrics = {case: read_json(getattr(args, case)) for case in ("own", "other", "silence")}
        result = summarise(read_json(args.control), metrics, real_openings(args.landmarks),
                           read_json(args.split)["val"])
        write_json(args.out, result)
        log.info("lip-sync control: other passage heard r %s, silent motion share %s, audio drives the mouth: %s",
                 result["cases"]["other"].get("heard_mouth_r"), result["silence_motion_share"],
                 result["audio_drives_mouth"])
    elif args.command == "link":
        link_file(args.src, args.out)
    else:
        from gtalker.metrics.weights import download

        download(args.name, args.out, args.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
