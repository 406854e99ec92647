"""Benchmark: does training-time augmentation of the audio features (gtalker.talker.augment) make the
cheap feature proxy of benchmarks/feature_proxy.py generalise better to unseen voices?

The same ridge regressor from one training voice's features (each frame's window, steps 4, 6, 8, 10 of
16) to the demo's true mouth opening, trained on the plain features plus 6 augmented copies (one draw per
frame, as the talker's training draws them: `talker.augment`), tested on unseen espeak-ng voices
(espeak_truth_r, r with the true opening) and the LibriVox recordings of pocketsphinx-testdata
(real_energy_r, real_closure, real_sd_ratio as in feature_proxy.py). Features: mel and melnorm (40 bands);
training voices: the demo's formant and espeak voices. Prints a table and saves
benchmarks/feature_augment.json (git-ignored). Needs espeak-ng and pocketsphinx-testdata.

  python benchmarks/feature_augment.py [--seconds 20] [--copies 6]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from feature_proxy import FPS, SR, frame_truth, voices  # noqa: E402
from unseen_voices import ESPEAK_VOICES, TEXTS, TESTDATA, testdata_clips  # noqa: E402

from gtalker.audio.mel import log_mel, normalised_log_mel  # noqa: E402
from gtalker.audio.windowing import frame_windows  # noqa: E402
from gtalker.metrics.lipsync import energy_envelope, pearson  # noqa: E402
from gtalker.metrics.phoneclass import closure_accuracy  # noqa: E402
from gtalker.talker.augment import AudioAugment, augment_audio  # noqa: E402

FEATURES = {"mel": log_mel, "melnorm40": normalised_log_mel}
AUGMENTS = {
    "none": AudioAugment(), "warp0.1": AudioAugment(warp=0.1), "warp0.2": AudioAugment(warp=0.2),
    "tempo0.15": AudioAugment(tempo=0.15), "tilt0.5": AudioAugment(tilt=0.5),
    "noise0.05": AudioAugment(noise=0.05),
    "all": AudioAugment(warp=0.15, tempo=0.15, tilt=0.5, gain=0.1, noise=0.05),
}


def design(windows: np.ndarray) -> np.ndarray:
    """Windows [n, 16, C] -> the regressor's inputs: steps 4, 6, 8, 10 of each, flattened."""
    return windows[:, 4:12:2].reshape(len(windows), -1)


def main() -> int:
    import torch
    from sklearn.linear_model import Ridge


    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each training voice")
    ap.add_argument("--copies", type=int, default=6, help="augmented copies of the training voice")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "feature_augment.json"))
    args = ap.parse_args()
    train, tests, real = voices(args.seconds, "feature_augment_")
    results: dict[str, dict] = {}
    for fname, fn in FEATURES.items():
        def windows(x: np.ndarray, fn=fn) -> tuple[np.ndarray, int]:
            n = int(len(x) / SR * FPS)
            return frame_windows(fn(x), n, FPS), n

        test_windows = {k: windows(ts.samples)[0] for k, ts in tests.items()}
        real_windows = {k: windows(x)[0] for k, (x, _) in real.items()}
        for tname, sp in train.items():
            w, n = windows(sp.samples)
            y = frame_truth(sp.openness, n, sp.smoothing)
            for aname, aug in AUGMENTS.items():
                xs, gen = [design(w)], torch.Generator().manual_seed(0)
                for _ in range(args.copies if aug.active else 0):
                    xs.append(design(augment_audio(torch.from_numpy(w)[:, None], aug, gen)[:, 0].numpy()))
                reg = Ridge(alpha=1.0).fit(np.concatenate(xs), np.tile(y, len(xs)))
                sd_train = float(reg.predict(design(w)).std())
                rs = [pearson(reg.predict(design(test_windows[k])),
                              frame_truth(ts.openness, len(test_windows[k]), ts.smoothing)) for k, ts in tests.items()]
                er, cl, rsd = [], [], []
                for k, (x, phones) in real.items():
                    p = reg.predict(design(real_windows[k]))
                    er.append(pearson(p, energy_envelope(x, len(p), FPS)))
                    cl.append(closure_accuracy(p, phones, FPS)[0])
                    rsd.append(p.std() / sd_train)
                key = f"{fname}+{aname} (train {tname})"
                results[key] = {"espeak_truth_r": float(np.mean(rs)), "real_energy_r": float(np.mean(er)),
                                "real_closure": float(np.mean(cl)), "real_sd_ratio": float(np.mean(rsd))}
                print(f"{key:40s} " + " ".join(f"{k}={v:.3f}" for k, v in results[key].items()), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
