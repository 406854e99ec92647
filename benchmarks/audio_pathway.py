"""Benchmark: does a trained talker's mouth move with the audio token or with the eye/view tokens?

For each trained model given (NAME=MODEL::FEATURES[::DATASET_DIR]; the dataset with its split.json
defaults to the run's results/<dataset>/ above MODEL), on 8 validation frames (gtalker.talker.measure, the ablation probe):
  swap_audio_mouth / swap_eye_view_mouth  RMS offset change of the mouth Gaussians when the audio (or the
      eye and view inputs) of each frame are swapped with those of a frame half the passage away;
  lip_box_audio / lip_box_eye_view        the same as mean |RGB change| in the rendered lip box;
  share_audio_mouth                       the mouth Gaussians' attention share on the audio token;
  audio_token_sd                          spread of the audio token over the passage (every 5th frame),
      and that of a freshly initialised encoder (seed 0) on the same features: how much the audio
      pathway learnt;
  window_weight_max                       the largest mean weight of the 8 audio windows (1/8 = uniform:
      the encoder's temporal attention learnt nothing).
Prints and saves JSON (default benchmarks/audio_pathway.json; --add keeps the runs already there).

  python benchmarks/audio_pathway.py [--add] NAME=results/demo/base/talker/model.pt::results/demo/audio/features_mel.npy ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def token_figures(model, features: np.ndarray) -> dict[str, float]:
    """Audio token spread (trained and at initialisation) and the largest mean window weight."""
    import torch

    from gtalker.audio.windowing import windows_batch
    from gtalker.talker.tokens import AudioEncoder

    audio = torch.from_numpy(windows_batch(features, np.arange(0, len(features), 5))).float()
    enc = model.deform.deformer.tokens.audio
    with torch.no_grad():
        torch.manual_seed(0)
        fresh = AudioEncoder(features.shape[2], enc.out[-1].out_features)
        weights = enc.window_weights(enc.window_codes(audio)).mean(0)
        return {"audio_token_sd": float(enc(audio).std(0).mean()),
                "audio_token_sd_init": float(fresh(audio).std(0).mean()),
                "window_weight_max": float(weights.max()),
                "features_rms": float(np.sqrt(np.mean(np.square(features))))}


def train_steps(model_path: str) -> int | None:
    """The training steps recorded in a model file (None when it has no summary)."""
    import torch

    payload = torch.load(model_path, map_location="cpu", weights_only=False)
    return ((payload.get("extra") or {}).get("train_summary") or {}).get("steps")


def main() -> int:
    import torch

    from gtalker.common import read_json
    from gtalker.talker.measure import measure, spread
    from gtalker.talker.model import load

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="NAME=MODEL::FEATURES[::DATASET_DIR]")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "audio_pathway.json"))
    ap.add_argument("--add", action="store_true", help="keep the other runs already in --out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = json.loads(Path(args.out).read_text()) if args.add and Path(args.out).is_file() else {}
    for spec in args.runs:
        name, _, rest = spec.partition("=")
        model_path, _, rest = rest.partition("::")
        features_path, _, dataset_dir = rest.partition("::")
        dataset_dir = Path(dataset_dir) if dataset_dir else Path(model_path).resolve().parents[2]
        split = read_json(dataset_dir / "split.json")
        model = load(model_path)
        probe = measure(model, str(dataset_dir), features_path, spread([int(i) for i in split["val"]], 8),
                        model.train_size or 128)
        results[name] = {
            "model": model_path, "features": features_path, "iterations": train_steps(model_path),
            "swap_audio_mouth": probe["swap"]["audio"]["mouth"],
            "swap_eye_view_mouth": probe["swap"]["eye_view"]["mouth"],
            "lip_box_audio": probe["swap_lip_box"]["audio"],
            "lip_box_eye_view": probe["swap_lip_box"]["eye_view"],
            "share_audio_mouth": probe["attention"]["mouth"]["share_audio"],
            "share_eye_mouth": probe["attention"]["mouth"]["share_eye"],
            **token_figures(model, np.load(features_path)),
        }
        print(name, " ".join(f"{k}={v:.4g}" for k, v in results[name].items() if isinstance(v, float)), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
