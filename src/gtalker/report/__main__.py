"""CLI of the report figures and tables (rules in workflow/rules/report.smk).

  python -m gtalker.report training --variants base wide --canonical-logs A B --talker-logs A B --title T --out P
  python -m gtalker.report metrics --metrics a/metrics.json b/metrics.json --out metrics.png
  python -m gtalker.report mouth --metrics metrics.json --audio audio.wav --frames-json frames.json --title T --out P
  python -m gtalker.report attention --video attention.mp4 --talker-log train_log.json --title T --out P
  python -m gtalker.report ablation --metrics ... --variants-json '{"base": {}, ...}' --out ablation.html
  python -m gtalker.report warnings --datasets demo --warnings results/demo/warnings.json --out warnings.html
"""

from __future__ import annotations

import argparse
import json
import logging

from gtalker.common import InputError, read_json, reports_input_errors, setup_logging

log = logging.getLogger("gtalker.report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gtalker.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("training", help="training curves of every variant of one dataset")
    t.add_argument("--variants", nargs="+", required=True)
    t.add_argument("--canonical-logs", nargs="+", required=True)
    t.add_argument("--talker-logs", nargs="+", required=True)
    m = sub.add_parser("metrics", help="metric bars per dataset and variant")
    m.add_argument("--metrics", nargs="+", required=True)
    mo = sub.add_parser("mouth", help="mouth opening (rendered, real) and audio energy of the validation passage")
    mo.add_argument("--metrics", required=True)
    mo.add_argument("--audio", required=True)
    mo.add_argument("--frames-json", required=True)
    a = sub.add_parser("attention", help="stills of the attention video, one column per token")
    a.add_argument("--video", required=True)
    a.add_argument("--talker-log", required=True)
    a.add_argument("--count", type=int, default=3)
    ab = sub.add_parser("ablation", help="every variant against the first one")
    ab.add_argument("--metrics", nargs="+", required=True)
    ab.add_argument("--variants-json", required=True)
    w = sub.add_parser("warnings", help="the datasets' warnings.json as one table")
    w.add_argument("--datasets", nargs="+", required=True)
    w.add_argument("--warnings", nargs="+", required=True)
    for p in (t, mo, a):
        p.add_argument("--title", default="")
    for p in (t, m, mo, a, ab, w):
        p.add_argument("--out", required=True)
    return parser


@reports_input_errors("gtalker.report")
def main(argv: list[str] | None = None) -> int:
    setup_logging("gtalker.report")
    args = build_parser().parse_args(argv)
    from gtalker.report import plots, tables

    if args.command == "training":
        if not len(args.variants) == len(args.canonical_logs) == len(args.talker_logs):
            raise InputError("training: give one canonical and one talker log per variant")
        plots.training_figure(args.variants, args.canonical_logs, args.talker_logs, args.out, args.title)
    elif args.command == "metrics":
        plots.metrics_figure(args.metrics, args.out)
    elif args.command == "mouth":
        plots.mouth_figure(args.metrics, args.audio, args.frames_json, args.out, args.title)
    elif args.command == "attention":
        tokens = (read_json(args.talker_log).get("deform_config") or {}).get("tokens")
        if not tokens:
            raise InputError(f"{args.talker_log}: no deform_config.tokens; rerun train_talker")
        plots.attention_figure(args.video, tokens, args.out, args.title, args.count)
    elif args.command == "ablation":
        tables.ablation_html(args.metrics, json.loads(args.variants_json), args.out)
    elif args.command == "warnings":
        if len(args.datasets) != len(args.warnings):
            raise InputError("warnings: give one warnings.json per dataset")
        tables.warnings_html(args.warnings, args.datasets, args.out)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
