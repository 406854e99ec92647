"""The demo's espeak-ng voice: English speech whose phone timings drive the demo face's jaw and lips.

Random sentences (from a small built-in vocabulary) are spoken by several espeak-ng English voices at
varied rate and pitch, with pauses between them; espeak-ng reports when each phone starts, and
`gtalker.phones` turns each phone into a target mouth opening and lip width (closed on /p b m/, wide open on
open vowels). The result is a `gtalker.demo.Speech`, like the formant voice's, so the rest of the demo
(smoothing into per-frame truth, rendering) is shared. Deterministic for a seed and an espeak-ng version.
"""

from __future__ import annotations

import numpy as np

from gtalker.common import SAMPLE_RATE
from gtalker.phones import CLASSES, VOWEL_CLASSES, Phone, mouth_targets

# Voices of the demo speaker (espeak-ng name + variant): male and female, US and British English.
LOUDNESS_RANGE_DB = 20.0  # vowels this much quieter than the loudest one open the jaw 0.4 as far
PHONE_SMOOTHING = 0.3  # lighter than the formant voice's 0.55: the lips still close on a 60 ms /m/
DEMO_VOICES = ("en-us", "en+f3", "en-us+m3", "en+f4", "en-us+f2")
_WORDS = {
    "det": "the a my your this that one some every our".split(),
    "adj": ("big small happy open bright calm warm quiet busy famous simple modern proper lovely "
            "broad humble pale sharp").split(),
    "noun": ("man mother baby father boat map farm park ball lamp market model pump bottle window "
             "garden morning evening problem paper apple table summer puppy mouse moon house river "
             "question office music family camera tomato piano pocket").split(),
    "verb": ("bought made brought kept moved opened watched painted found helped carried met wanted "
             "bumped combed mapped passed played liked saw").split(),
    "adv": "slowly quickly happily often maybe almost perhaps calmly openly".split(),
    "prep": "from above behind beyond by with near upon past".split(),
}
_PATTERNS = (("det", "noun", "verb", "det", "adj", "noun"),
             ("det", "adj", "noun", "adv", "verb", "det", "noun"),
             ("det", "noun", "verb", "det", "noun", "prep", "det", "noun"),
             ("adv", "det", "adj", "noun", "verb", "det", "noun"),
             ("det", "noun", "prep", "det", "noun", "verb", "det", "adj", "noun"))


def random_sentence(rng: np.random.Generator) -> str:
    """One grammatical-looking English sentence from the built-in vocabulary."""
    pattern = _PATTERNS[int(rng.integers(len(_PATTERNS)))]
    words = [_WORDS[kind][int(rng.integers(len(_WORDS[kind])))] for kind in pattern]
    return " ".join(words).capitalize() + "."


def vowel_index(phone: Phone) -> int:
    """The nearest of the formant voice's five vowels (a e i o u = 0..4), -1 for a non-vowel."""
    cls = phone.mouth_class
    if cls not in ("close_vowel", "mid_vowel", "open_vowel"):
        return -1
    rounded, spread = phone.width < 1.0, phone.width > 1.0
    if cls == "open_vowel":
        return 3 if rounded else 0
    if cls == "mid_vowel":
        return 3 if rounded else 1
    return 4 if rounded else 2 if spread else 2


def vowel_loudness(samples: np.ndarray, phones: list[Phone], sample_rate: int = SAMPLE_RATE,
                   range_db: float = LOUDNESS_RANGE_DB) -> np.ndarray:
    """Per-sample factor (1 elsewhere) for the jaw on each vowel: 1 on the loudest vowel of the clip,
    falling linearly to 0.4 at `range_db` below it (stressed, louder vowels open the jaw more)."""
    x = np.asarray(samples, np.float64)
    out = np.ones(len(x), dtype=np.float32)
    spans = [(max(int(round(p.start * sample_rate)), 0), min(int(round(p.end * sample_rate)), len(x)))
             for p in phones if p.mouth_class in VOWEL_CLASSES]
    spans = [(a, b) for a, b in spans if b > a]
    if not spans:
        return out
    db = np.array([10 * np.log10(np.mean(x[a:b] ** 2) + 1e-12) for a, b in spans])
    gain = np.clip(1.0 + 0.6 * (db - db.max()) / range_db, 0.4, 1.0)
    for (a, b), g in zip(spans, gain):
        out[a:b] = g
    return out


def speech_truth(samples: np.ndarray, phones: list[Phone], sample_rate: int = SAMPLE_RATE):
    """A demo `Speech` (samples plus per-sample vowel, opening and width) from audio and its phones."""
    from gtalker.demo import Speech

    n = len(samples)
    opening, width = mouth_targets(phones, n, sample_rate)
    opening *= vowel_loudness(samples, phones, sample_rate)
    vowel = np.full(n, -1, dtype=np.int8)
    for p in phones:
        a, b = max(int(round(p.start * sample_rate)), 0), min(int(round(p.end * sample_rate)), n)
        vowel[a:b] = vowel_index(p)
    return Speech(np.asarray(samples, np.float32), vowel, opening, width, smoothing=PHONE_SMOOTHING)


def synthesize_espeak_speech(seconds: float, seed: int, voices: tuple[str, ...] = DEMO_VOICES,
                             sr: int = SAMPLE_RATE) -> tuple["object", list[Phone]]:
    """`seconds` of espeak-ng sentences with pauses (varied voice, rate, pitch), its Speech truth and phones."""
    from gtalker import espeak

    rng = np.random.default_rng(seed)
    n_total = int(round(seconds * sr))
    samples = np.zeros(n_total, dtype=np.float32)
    phones: list[Phone] = []
    pos = int(0.3 * sr)
    while pos < n_total - int(0.5 * sr):
        voice = voices[int(rng.integers(len(voices)))]
        utt = espeak.speak(random_sentence(rng), voice, rate_wpm=int(rng.integers(140, 196)),
                           pitch=int(rng.integers(30, 71)))
        x = utt.samples[: n_total - pos]
        peak = float(np.abs(x).max()) if len(x) else 0.0
        samples[pos:pos + len(x)] = x / (peak + 1e-9) * rng.uniform(0.5, 0.9)
        t0, t_end = pos / sr, (pos + len(x)) / sr
        phones += [Phone(t0 + p.start, min(t0 + p.end, t_end), p.name, p.alphabet)
                   for p in utt.phones if t0 + p.start < t_end]
        pos += len(x) + int(rng.uniform(0.15, 0.6) * sr)
    samples += (np.random.default_rng(seed + 1).standard_normal(n_total) * 1e-3).astype(np.float32)
    samples = (0.8 * samples / (np.abs(samples).max() + 1e-9)).astype(np.float32)
    return speech_truth(samples, phones, sr), phones


def phone_table(phones: list[Phone]) -> dict[str, np.ndarray]:
    """Phones as arrays for an npz: start, end (s), name, class index into gtalker.phones.CLASSES."""
    return {"phone_start": np.array([p.start for p in phones], np.float32),
            "phone_end": np.array([p.end for p in phones], np.float32),
            "phone_name": np.array([p.name for p in phones]),
            "phone_class": np.array([CLASSES.index(p.mouth_class) for p in phones], np.int16)}
