"""The phone-class lip-sync measure on demo renders whose mouth motion is known, and the phone classes."""

from __future__ import annotations

import numpy as np
import pytest

from gtalker.demo import build_geometry, render_frame
from gtalker.metrics.phoneclass import closure_accuracy, closure_pairs, mouth_per_class, phone_class_scores
from gtalker.phones import CLASS_OPEN, Phone, mouth_targets, phone_class, phone_width

FPS = 25.0


def ama_phones(n_syllables: int = 12, vowel: str = "a", consonant: str = "m") -> list[Phone]:
    """/a m a m .../: 0.2 s vowels, 0.12 s consonants, with a pause at both ends."""
    phones, t = [Phone(0.0, 0.2, "_")], 0.2
    for i in range(n_syllables):
        phones.append(Phone(t, t + 0.2, vowel))
        t += 0.2
        if i < n_syllables - 1:
            phones.append(Phone(t, t + 0.12, consonant))
            t += 0.12
    phones.append(Phone(t, t + 0.2, "_"))
    return phones


def frame_truth(phones: list[Phone], n_frames: int) -> np.ndarray:
    """The class target opening of the phone under each frame's centre."""
    centres = (np.arange(n_frames) + 0.5) / FPS
    out = np.zeros(n_frames)
    for p in phones:
        out[(centres >= p.start) & (centres < p.end)] = CLASS_OPEN[p.mouth_class]
    return out


def measured_mouth(openings: np.ndarray, size: int = 256) -> np.ndarray:
    """Render the demo face with these mouth openings and measure the opening with dlib, as evaluate does."""
    from gtalker.metrics.landmarks import MouthMeter, mouth_opening

    geo = build_geometry(size)
    eye = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    meter = MouthMeter()
    box = meter.face_box(render_frame(geo, 0.0, 1.0, 0.0, eye)[0])
    assert box is not None
    cache: dict[float, float] = {}
    out = []
    for o in openings:
        key = round(float(o), 4)
        if key not in cache:
            frame, _ = render_frame(geo, key, 1.0, 0.0, eye)
            cache[key] = mouth_opening(meter.landmarks(frame, box))
        out.append(cache[key])
    return np.array(out)


@pytest.fixture(scope="module")
def phones() -> list[Phone]:
    return ama_phones()


def test_mouth_closed_on_every_m_scores_one(phones: list[Phone]) -> None:
    n = int(np.ceil(phones[-1].end * FPS))
    mouth = measured_mouth(frame_truth(phones, n))
    acc, n_pairs = closure_accuracy(mouth, phones, FPS)
    assert n_pairs == 2 * 11  # every /m/ has a vowel on both sides
    assert acc == 1.0
    per_class = mouth_per_class(mouth, phones, FPS)
    assert per_class["open_vowel"] > per_class["bilabial"] + 0.05
    scores = phone_class_scores(mouth, phones, FPS)
    assert scores["closure_accuracy"] == 1.0 and scores["open_minus_bilabial"] > 0.05


def test_frozen_mouth_scores_at_chance(phones: list[Phone]) -> None:
    n = int(np.ceil(phones[-1].end * FPS))
    frozen = measured_mouth(np.full(n, 0.5))
    acc, _ = closure_accuracy(frozen, phones, FPS)
    assert acc == 0.5


def test_random_mouth_scores_near_chance_and_inverted_scores_zero() -> None:
    phones = ama_phones(60)
    n = int(np.ceil(phones[-1].end * FPS))
    rng = np.random.default_rng(0)
    acc, n_pairs = closure_accuracy(rng.uniform(0, 1, n), phones, FPS)
    assert n_pairs == 118 and abs(acc - 0.5) < 0.15  # 0.15 is 3.3 sd of the mean of 118 fair coins
    inverted = 1.0 - frame_truth(phones, n)
    assert closure_accuracy(inverted, phones, FPS)[0] == 0.0


def test_closure_pairs_need_a_vowel_nearby() -> None:
    far = [Phone(0.0, 0.2, "a"), Phone(0.9, 1.0, "m"), Phone(1.0, 1.1, "s"), Phone(1.1, 1.3, "i:")]
    pairs = closure_pairs(far)
    assert [(b.name, v.name) for b, v in pairs] == [("m", "i:")]
    assert closure_accuracy(np.zeros(40), [Phone(0, 1, "s")], FPS) == (None, 0)


def test_phone_classes_of_both_alphabets() -> None:
    assert [phone_class(p) for p in ("m", "p", "b", "f", "A:", "a", "aI", "@", "E", "i:", "u:", "s", "_:")] == [
        "bilabial", "bilabial", "bilabial", "labiodental", "open_vowel", "open_vowel", "open_vowel",
        "mid_vowel", "mid_vowel", "close_vowel", "close_vowel", "consonant", "silence"]
    assert [phone_class(p, "arpabet") for p in ("M", "B", "V", "AA", "AE", "AH", "IY", "S", "SIL", "+NSN+")] == [
        "bilabial", "bilabial", "labiodental", "open_vowel", "open_vowel", "mid_vowel", "close_vowel",
        "consonant", "silence", "silence"]
    assert phone_width("u:") < 1 < phone_width("i:") and phone_width("OW", "arpabet") < 1
    # espeak-ng 1.52 marks stress before the mnemonic in its phoneme events
    assert [phone_class(p) for p in ("'a", ",E", "'i:", "%oU", "'m")] == [
        "open_vowel", "mid_vowel", "close_vowel", "mid_vowel", "bilabial"]
    assert phone_width("'u:") < 1 < phone_width(",i:")
    with pytest.raises(ValueError, match="alphabet"):
        phone_class("a", "ipa")


def test_mouth_targets_follow_the_phones() -> None:
    opening, width = mouth_targets([Phone(0.0, 0.1, "a"), Phone(0.1, 0.2, "m"), Phone(0.2, 0.3, "u:")], 4800, 16000)
    assert opening[800] == CLASS_OPEN["open_vowel"] and opening[2400] == 0.0
    assert opening[4000] == CLASS_OPEN["close_vowel"] and width[4000] < 1.0
