"""Benchmark: which audio features carry what is said rather than who says it? A proxy in seconds.

Training the talker takes many minutes; this measures audio features the cheap way. A ridge regressor
learns the demo's true mouth opening from one voice's features (each frame's window, steps 4, 6, 8, 10 of
16) and is tested on voices it never heard:
  espeak_truth_r   r with the true opening (from espeak-ng's phone timings) on unseen espeak-ng voices
                   (Scottish and Caribbean English, male and female variants, German, French, Spanish);
  real_energy_r    r with the log energy on the LibriVox recordings of pocketsphinx-testdata;
  real_closure     bilabial closure accuracy there (pocketsphinx forced alignment to the transcripts);
  *_sd_ratio       spread of the predicted opening over its spread on the training voice.
Training voices: the demo's formant voice and its espeak voice (gtalker.demo_voice); features: mel (the
old default), melnorm (per-utterance normalised log-mel, 40 and 80 bands), a 13-coefficient MFCC with
per-utterance normalisation plus energy, energy alone, pocketsphinx phone classes (phone decoding), and
training-time pitch-shift augmentation (-5, -2.5, +3 semitones) for mel and melnorm. Prints a table and
saves benchmarks/feature_proxy.json (git-ignored). Needs espeak-ng and pocketsphinx-testdata.

  python benchmarks/feature_proxy.py [--seconds 20]
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

from unseen_voices import ESPEAK_VOICES, TEXTS, TESTDATA, testdata_clips  # noqa: E402

from gtalker.audio.mel import MelConfig, log_mel, mel_power, normalised_log_mel  # noqa: E402
from gtalker.audio.windowing import frame_windows  # noqa: E402
from gtalker.demo import _per_frame, _smooth, synthesize_speech  # noqa: E402
from gtalker.metrics.lipsync import energy_envelope, pearson  # noqa: E402
from gtalker.metrics.phoneclass import closure_accuracy  # noqa: E402
from gtalker.phones import CLASSES  # noqa: E402

SR, FPS = 16000, 25.0


def log_energy(samples: np.ndarray) -> np.ndarray:
    """[T, 1] log energy at 50 Hz, 0 at 60 dB below the 95th percentile, 1 there."""
    db = 10 * np.log10(np.maximum(mel_power(samples, MelConfig(n_mels=40)).sum(axis=1), 1e-10))
    return np.clip((db - np.percentile(db, 95) + 60) / 60, 0, 1.2)[:, None].astype(np.float32)


def mfcc_norm(samples: np.ndarray) -> np.ndarray:
    """MFCC 1-12 of a 40-band log-mel, normalised per utterance, and the log energy."""
    from scipy.fft import dct

    power = mel_power(samples, MelConfig(n_mels=40))
    db = 10 * np.log10(np.maximum(power, power.max() * 1e-8))
    c = dct(db, type=2, axis=1, norm="ortho")[:, 1:13]
    return np.concatenate([(c - c.mean(0)) / (c.std(0) + 1e-3) / 4, log_energy(samples)], axis=1)


def phone_classes(samples: np.ndarray) -> np.ndarray:
    """One-hot mouth class per 50 Hz step from pocketsphinx phone decoding."""
    from gtalker.align import align_phones

    t = np.arange(1 + len(samples) // 320) * 320 / SR
    out = np.zeros((len(t), len(CLASSES)), np.float32)
    for p in align_phones(samples):
        out[(t >= p.start) & (t < p.end), CLASSES.index(p.mouth_class)] = 1
    return out


FEATURES = {
    "mel": log_mel,
    "melnorm40": normalised_log_mel,
    "melnorm80": lambda x: normalised_log_mel(x, MelConfig(n_mels=80)),
    "mfcc_norm": mfcc_norm,
    "energy": log_energy,
    "phone_classes": phone_classes,
}
AUGMENTED = ("mel", "melnorm40")
PITCH_STEPS = (-5.0, -2.5, 3.0)


def frame_truth(openness: np.ndarray, n: int, smoothing: float) -> np.ndarray:
    return np.clip(_smooth(_per_frame(openness, n, SR, FPS), smoothing), 0, 1)


def design(seq: np.ndarray, n: int) -> np.ndarray:
    return frame_windows(seq, n, FPS)[:, 4:12:2].reshape(n, -1)


def voices(seconds: float, tmp_prefix: str) -> tuple[dict, dict, dict]:
    """The proxies' audio: the two training voices (formant, espeak) of `seconds`, the espeak test voices
    (samples, truth) and the LibriVox recordings of pocketsphinx-testdata (samples, phone alignment)."""
    import tempfile

    from gtalker import espeak
    from gtalker.align import align_phones
    from gtalker.demo_voice import speech_truth, synthesize_espeak_speech
    from gtalker.io.audio import load_audio

    if not espeak.available() or not TESTDATA.is_dir():
        raise SystemExit("needs espeak-ng and pocketsphinx-testdata (apt-get install espeak-ng pocketsphinx-testdata)")
    train = {"formant": synthesize_speech(seconds, 12345), "espeak": synthesize_espeak_speech(seconds, 0)[0]}
    tests = {}
    for name, (voice, lang) in ESPEAK_VOICES.items():
        utt = espeak.speak(TEXTS[lang], voice)
        tests[name] = speech_truth(utt.samples, utt.phones)
    real = {}
    for name, (wav, text) in testdata_clips(Path(tempfile.mkdtemp(prefix=tmp_prefix))).items():
        if name.startswith("real_librivox"):
            x = load_audio(wav)
            real[name] = (x, align_phones(x, text))
    return train, tests, real


def main() -> int:
    import librosa
    from sklearn.linear_model import Ridge


    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each training voice")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "feature_proxy.json"))
    args = ap.parse_args()
    train, tests, real = voices(args.seconds, "feature_proxy_")
    results: dict[str, dict] = {}
    for fname, fn in FEATURES.items():
        cache: dict[str, np.ndarray] = {}

        def feats(key: str, x: np.ndarray) -> np.ndarray:
            if key not in cache:
                cache[key] = fn(x)
            return cache[key]

        for tname, sp in train.items():
            n = int(len(sp.samples) / SR * FPS)
            X, y = design(feats(tname, sp.samples), n), frame_truth(sp.openness, n, sp.smoothing)
            for aug in ((False, True) if fname in AUGMENTED else (False,)):
                Xs, ys = [X], [y]
                if aug:
                    for st in PITCH_STEPS:
                        Xs.append(design(fn(librosa.effects.pitch_shift(sp.samples, sr=SR, n_steps=st)), n))
                        ys.append(y)
                reg = Ridge(alpha=1.0).fit(np.concatenate(Xs), np.concatenate(ys))
                sd_train = float(reg.predict(X).std())
                rs, sds, er, cl, rsd = [], [], [], [], []
                for vname, ts in tests.items():
                    m = int(len(ts.samples) / SR * FPS)
                    p = reg.predict(design(feats(vname, ts.samples), m))
                    rs.append(pearson(p, frame_truth(ts.openness, m, ts.smoothing)))
                    sds.append(p.std() / sd_train)
                for cname, (x, phones) in real.items():
                    m = int(len(x) / SR * FPS)
                    p = reg.predict(design(feats(cname, x), m))
                    er.append(pearson(p, energy_envelope(x, m, FPS)))
                    cl.append(closure_accuracy(p, phones, FPS)[0])
                    rsd.append(p.std() / sd_train)
                key = f"{fname}{'+pitch_aug' if aug else ''} (train {tname})"
                results[key] = {"espeak_truth_r": float(np.mean(rs)), "espeak_sd_ratio": float(np.mean(sds)),
                                "real_energy_r": float(np.mean(er)), "real_closure": float(np.mean(cl)),
                                "real_sd_ratio": float(np.mean(rsd))}
                print(f"{key:36s} " + " ".join(f"{k}={v:.3f}" for k, v in results[key].items()), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
