"""Benchmark: how well does the audio encoder's mouth read-out alone follow voices it never heard?

Takes a finished run (its audio features, tracked landmarks and split), pre-trains a fresh audio encoder and
read-out on the training frames' inner-lip gap exactly as `talker.audio_pretrain` does
(gtalker.talker.mouth_prior), and applies the read-out to:
  val              the run's validation frames (r with their tracked lip gap);
  real recordings  pocketsphinx-testdata's human speech, features matched to the training audio's statistics
                   as `render.match_features` does: r with the log energy, bilabial closure accuracy (pocketsphinx
                   alignment), and the read-out's spread over its spread on the demo's custom speech.
This is the ceiling of what the rendered mouth can follow (the full measure, on renders, is
benchmarks/unseen_voices.py). Settings: pre-training steps and weight decay, a few seeds. Prints and saves
JSON (default benchmarks/mouth_prior.json). Needs pocketsphinx-testdata.

  python benchmarks/mouth_prior.py --workdir DIR [--dataset demo] [--backend melnorm]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from unseen_voices import testdata_clips  # noqa: E402

FPS = 25.0
SETTINGS = [(1500, 0.01, 0), (1500, 0.01, 1), (1500, 0.01, 2), (500, 0.01, 0), (4000, 0.01, 0), (1500, 0.5, 0)]


def main() -> int:
    import torch

    from gtalker.align import align_phones
    from gtalker.audio.adapt import match_feature_stats
    from gtalker.audio.features import FeatureConfig, extract_features, frames_for_duration
    from gtalker.io.audio import load_audio
    from gtalker.metrics.lipsync import energy_envelope, pearson
    from gtalker.metrics.phoneclass import closure_accuracy
    from gtalker.talker.mouth_prior import lip_gap_targets, predict_gaps, pretrain, usable_frames
    from gtalker.talker.tokens import AudioEncoder

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True, help="working directory of a finished run")
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--backend", default="melnorm", help="the run's audio feature backend")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "mouth_prior.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.workdir) / "results" / args.dataset
    feats = np.load(root / "audio" / f"features_{args.backend}.npy")
    split = json.loads((root / "split.json").read_text())
    gaps = lip_gap_targets(str(root / "face" / "landmarks.npz"), len(feats), split["train"])
    if gaps is None:
        raise SystemExit("the training frames' mouth never moves")
    targets, usable = gaps
    cfg = FeatureConfig(backend=args.backend)

    def clip_features(samples: np.ndarray) -> tuple[np.ndarray, int]:
        n = frames_for_duration(len(samples), FPS)
        return match_feature_stats(extract_features(samples, n, FPS, cfg), feats), n

    clips = {}
    for name, (wav, text) in testdata_clips(Path(tempfile.mkdtemp(prefix="mouth_prior_"))).items():
        x = load_audio(wav)
        clips[name] = (x, *clip_features(x), align_phones(x, text))
    own = clip_features(load_audio(Path(args.workdir) / "results" / "_demo" / "custom_speech.wav"))
    results = []
    for steps, decay, seed in SETTINGS:
        torch.manual_seed(seed)
        encoder, readout = AudioEncoder(feats.shape[2], 64), torch.nn.Linear(64, 1)
        fit = pretrain(encoder, readout, feats, targets, usable_frames(usable, split["train"]), steps, seed,
                       weight_decay=decay)

        def predict(f: np.ndarray, n: int) -> np.ndarray:
            return predict_gaps(encoder, readout, f, np.arange(n))

        own_sd = float(predict(*own).std())
        energy_r, hits, pairs, spread = [], 0.0, 0, []
        for x, f, n, phones in clips.values():
            pred = predict(f, n)
            energy_r.append(pearson(pred, energy_envelope(x, n, FPS)))
            acc, k = closure_accuracy(pred, phones, FPS)
            hits, pairs = hits + (acc or 0.0) * k, pairs + k
            spread.append(float(pred.std()) / own_sd)
        val = np.asarray(split["val"])
        row = {"steps": steps, "weight_decay": decay, "seed": seed, "train_r": fit["r_after"],
               "val_r": pearson(predict(feats, len(feats))[val], targets[val]),
               "real_energy_r": float(np.mean(energy_r)), "real_closure": hits / max(pairs, 1),
               "real_closure_pairs": pairs, "real_sd_ratio": float(np.mean(spread))}
        results.append(row)
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    table = {"columns": list(results[0]), "rows": [list(r.values()) for r in results]}
    Path(args.out).write_text(json.dumps({"workdir": args.workdir, "backend": args.backend,
                                          "clips": len(clips), "table": table}, indent=1) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
