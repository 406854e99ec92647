"""Phone segments, their mouth classes and the mouth shape each class asks for.

A phone alignment (from espeak-ng's phoneme events or pocketsphinx) is a list of `Phone` segments. Each
phone falls in one mouth class: the lips close on bilabials (/p b m/), nearly close on labiodentals
(/f v/), the jaw opens most on open vowels (/a/ of "father", "cat", "caught", "cot"), less on mid and close
vowels. Names are espeak-ng phoneme mnemonics (any language) or the ARPAbet of pocketsphinx (upper case).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("silence", "bilabial", "labiodental", "consonant", "close_vowel", "mid_vowel", "open_vowel")
# Target jaw opening (0 closed .. 1 wide open) per class: the one home of the phone -> mouth mapping.
CLASS_OPEN = {"silence": 0.0, "bilabial": 0.0, "labiodental": 0.08, "consonant": 0.2,
              "close_vowel": 0.3, "mid_vowel": 0.55, "open_vowel": 0.95}
VOWEL_CLASSES = ("close_vowel", "mid_vowel", "open_vowel")

_ARPABET = {
    "SIL": "silence", "+SPN+": "silence", "+NSN+": "silence", "+BREATH+": "silence", "+COUGH+": "silence",
    "+UM+": "silence", "+UH+": "silence", "+SMACK+": "silence",
    "P": "bilabial", "B": "bilabial", "M": "bilabial", "F": "labiodental", "V": "labiodental",
    "AA": "open_vowel", "AE": "open_vowel", "AO": "open_vowel", "AW": "open_vowel", "AY": "open_vowel",
    "AH": "mid_vowel", "EH": "mid_vowel", "ER": "mid_vowel", "EY": "mid_vowel", "OW": "mid_vowel",
    "OY": "mid_vowel", "IH": "close_vowel", "IY": "close_vowel", "UH": "close_vowel", "UW": "close_vowel",
}
_ARPABET_ROUNDED = {"OW", "UW", "UH", "W", "OY", "AO"}
_ARPABET_SPREAD = {"IY", "IH", "EY", "EH"}
# espeak-ng mnemonics: the first character decides the vowel height (X-SAMPA-like across languages).
_ESPEAK_OPEN = set("aA&V0O6Q")
_ESPEAK_MID = set("eE@3o298")
_ESPEAK_CLOSE = set("iIuUyY1")
_ESPEAK_ROUNDED = set("oOuUyY0w29")
_ESPEAK_SPREAD = set("iIeE")
_ESPEAK_STRESS = "',%="  # stress marks espeak-ng 1.52 puts before a vowel's mnemonic in its events ('a, ,E)


@dataclass(frozen=True)
class Phone:
    """One phone of an alignment: [start, end) in seconds, its name and the alphabet of the name
    ("espeak": espeak-ng mnemonics, "arpabet": pocketsphinx's phones)."""

    start: float
    end: float
    name: str
    alphabet: str = "espeak"

    @property
    def mouth_class(self) -> str:
        return phone_class(self.name, self.alphabet)

    @property
    def width(self) -> float:
        return phone_width(self.name, self.alphabet)


def phone_class(name: str, alphabet: str = "espeak") -> str:
    """The mouth class of an espeak-ng mnemonic or an ARPAbet phone."""
    if alphabet == "arpabet":
        base = name.upper().rstrip("012")
        if base.startswith("+") or base in ("SIL", ""):
            return "silence"
        return _ARPABET.get(base, "consonant")
    if alphabet != "espeak":
        raise ValueError(f"unknown phone alphabet '{alphabet}' (espeak or arpabet)")
    name = name.lstrip(_ESPEAK_STRESS)
    if not name or name[0] in "_|":
        return "silence"
    if name.startswith("a#"):  # English unstressed 'a' (a schwa)
        return "mid_vowel"
    head = name[0]
    if head in "pbm":
        return "bilabial"
    if head in "fv":
        return "labiodental"
    if head in _ESPEAK_OPEN:
        return "open_vowel"
    if head in _ESPEAK_MID:
        return "mid_vowel"
    if head in _ESPEAK_CLOSE:
        return "close_vowel"
    return "consonant"


def phone_width(name: str, alphabet: str = "espeak") -> float:
    """Lip width factor: < 1 rounded (o, u, w), > 1 spread (i, e), 1 otherwise."""
    cls = phone_class(name, alphabet)
    if cls in ("silence", "bilabial", "labiodental"):
        return 1.0
    if alphabet == "arpabet":
        base = name.upper().rstrip("012")
        return 0.78 if base in _ARPABET_ROUNDED else 1.12 if base in _ARPABET_SPREAD else 1.0
    head = name.lstrip(_ESPEAK_STRESS)[0]
    return 0.78 if head in _ESPEAK_ROUNDED else 1.12 if head in _ESPEAK_SPREAD else 1.0


def per_frame_classes(phones: list[Phone], n_frames: int, fps: float) -> np.ndarray:
    """The class index (into CLASSES) of the phone under each frame's centre; -1 where there is none."""
    out = np.full(n_frames, -1, dtype=np.int16)
    centres = (np.arange(n_frames) + 0.5) / fps
    for p in phones:
        out[(centres >= p.start) & (centres < p.end)] = CLASSES.index(p.mouth_class)
    return out


def mouth_targets(phones: list[Phone], n_samples: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample target opening and width factor of a phone sequence (before any smoothing)."""
    opening = np.zeros(n_samples, dtype=np.float32)
    width = np.ones(n_samples, dtype=np.float32)
    for p in phones:
        a, b = int(round(p.start * sample_rate)), int(round(p.end * sample_rate))
        a, b = max(a, 0), min(b, n_samples)
        if b > a:
            opening[a:b] = CLASS_OPEN[p.mouth_class]
            width[a:b] = p.width
    return opening, width
