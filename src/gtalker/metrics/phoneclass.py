"""A lip-sync check that any voice can be measured with: does the mouth close on /p b m/ and open on vowels?

Given the rendered mouth opening per frame and a phone alignment of the audio (espeak-ng's timings or
pocketsphinx, `gtalker.phones.Phone`):

- `mouth_per_class`: the mean opening over the frames whose centre lies in a phone of each class;
- `closure_accuracy`: for every bilabial, its frame is compared with the frame of the vowel just before it
  and just after it (each within `max_gap` seconds): 1 when the mouth is more closed on the bilabial, 0
  when it is more open, 1/2 on a tie. The mean over the pairs is the accuracy; a mouth that closes on
  every /p b m/ scores 1, one that does not move (or moves at random) scores 1/2, chance.

Each phone is represented by the frame shown at its middle, so a bilabial and a vowel weigh the same and
chance stays exactly 1/2 (no minimum against maximum).
"""

from __future__ import annotations

import numpy as np

from gtalker.phones import CLASSES, VOWEL_CLASSES, Phone, per_frame_classes

MAX_GAP = 0.5  # s: a vowel further from the bilabial than this is not its neighbour


def frame_at(t: float, fps: float, n_frames: int) -> int:
    """The frame shown at time t (frame k is shown during [k / fps, (k + 1) / fps))."""
    return int(min(max(np.floor(t * fps), 0), n_frames - 1))


def mouth_per_class(mouth: np.ndarray, phones: list[Phone], fps: float) -> dict[str, float | None]:
    """Mean mouth opening over the frames whose centre lies in a phone of each class (None: no frame)."""
    mouth = np.asarray(mouth, dtype=np.float64)
    label = per_frame_classes(phones, len(mouth), fps)
    out: dict[str, float | None] = {}
    for i, name in enumerate(CLASSES):
        values = mouth[(label == i) & np.isfinite(mouth)]
        out[name] = float(values.mean()) if len(values) else None
    return out


def closure_pairs(phones: list[Phone], max_gap: float = MAX_GAP) -> list[tuple[Phone, Phone]]:
    """(bilabial, neighbouring vowel) pairs: the nearest vowel before and after each bilabial."""
    vowels = [p for p in phones if p.mouth_class in VOWEL_CLASSES]
    pairs = []
    for b in phones:
        if b.mouth_class != "bilabial":
            continue
        before = [v for v in vowels if v.end <= b.start + 1e-6 and b.start - v.end <= max_gap]
        after = [v for v in vowels if v.start >= b.end - 1e-6 and v.start - b.end <= max_gap]
        if before:
            pairs.append((b, max(before, key=lambda v: v.end)))
        if after:
            pairs.append((b, min(after, key=lambda v: v.start)))
    return pairs


def closure_accuracy(mouth: np.ndarray, phones: list[Phone], fps: float,
                     max_gap: float = MAX_GAP) -> tuple[float | None, int]:
    """Share of (bilabial, neighbouring vowel) pairs where the mouth is more closed on the bilabial (ties 1/2),
    and the number of pairs compared (None when there are none)."""
    mouth = np.asarray(mouth, dtype=np.float64)
    n = len(mouth)
    scores = []
    for b, v in closure_pairs(phones, max_gap):
        mb = mouth[frame_at(0.5 * (b.start + b.end), fps, n)]
        mv = mouth[frame_at(0.5 * (v.start + v.end), fps, n)]
        if np.isfinite(mb) and np.isfinite(mv):
            scores.append(1.0 if mb < mv else 0.5 if mb == mv else 0.0)
    return (float(np.mean(scores)) if scores else None), len(scores)


def phone_class_scores(mouth: np.ndarray, phones: list[Phone], fps: float) -> dict:
    """The phone-class lip-sync figures of one clip: opening per class, open-vowel minus bilabial opening,
    closure accuracy and the number of pairs behind it."""
    per_class = mouth_per_class(mouth, phones, fps)
    accuracy, n_pairs = closure_accuracy(mouth, phones, fps)
    contrast = (per_class["open_vowel"] - per_class["bilabial"]
                if per_class["open_vowel"] is not None and per_class["bilabial"] is not None else None)
    return {"mouth_per_class": per_class, "open_minus_bilabial": contrast,
            "closure_accuracy": accuracy, "closure_pairs": n_pairs}
