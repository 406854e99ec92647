"""Phone alignment of English speech with pocketsphinx (its en-us model ships in the pip wheel).

`align_phones(samples, text)`: with the transcript, a forced alignment (every word must be in the
pronouncing dictionary); without it, phone decoding (allphone search with the wheel's phone language model),
which needs no transcript and works on any English speech, less exactly. Times in seconds, phones in
ARPAbet (`gtalker.phones.Phone` with alphabet "arpabet").
"""

from __future__ import annotations

import os
import re

import numpy as np

from gtalker.common import SAMPLE_RATE, InputError
from gtalker.phones import Phone

FRAME_RATE = 100.0  # pocketsphinx frames per second


def available() -> bool:
    """Whether pocketsphinx can be imported."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return False
    return True


def _pcm16(samples: np.ndarray) -> bytes:
    x = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (x * 32767.0).astype("<i2").tobytes()


def normalise_text(text: str) -> list[str]:
    """Lower-case words without punctuation (apostrophes kept), as the dictionary spells them."""
    return [w for w in re.sub(r"[^a-z' ]+", " ", text.lower()).split() if w.strip("'")]


def align_phones(samples: np.ndarray, text: str | None = None, sample_rate: int = SAMPLE_RATE) -> list[Phone]:
    """Phones of 16 kHz mono speech: forced alignment to `text`, or phone decoding without it."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"align_phones expects {SAMPLE_RATE} Hz audio, got {sample_rate}")
    try:
        from pocketsphinx import Decoder, get_model_path
    except ImportError as err:
        raise InputError("pocketsphinx is not installed: pip install pocketsphinx==5.1.1") from err
    raw = _pcm16(samples)
    if text is None:
        lm = os.path.join(get_model_path(), "en-us", "en-us-phone.lm.bin")
        dec = Decoder(allphone=lm, lm=None, loglevel="FATAL", beam=1e-20, pbeam=1e-20, lw=2.0)
        dec.start_utt()
        dec.process_raw(raw, full_utt=True)
        dec.end_utt()
        return [Phone(s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE, s.word, "arpabet")
                for s in dec.seg()]
    words = normalise_text(text)
    if not words:
        raise InputError("align_phones: the transcript has no words")
    dec = Decoder(lm=None, loglevel="FATAL")
    unknown = [w for w in words if dec.lookup_word(w) is None]
    if unknown:
        raise InputError(f"align_phones: not in the pocketsphinx dictionary: {', '.join(unknown[:10])}; "
                         "respell them or align without a transcript")
    dec.set_align_text(" ".join(words))
    dec.start_utt()
    dec.process_raw(raw, full_utt=True)
    dec.end_utt()
    if dec.hyp() is None:
        raise InputError("align_phones: the speech could not be aligned to the transcript")
    dec.set_alignment()  # a second pass for the phone-level alignment
    dec.start_utt()
    dec.process_raw(raw, full_utt=True)
    dec.end_utt()
    return [Phone(p.start / FRAME_RATE, (p.start + p.duration) / FRAME_RATE, p.name, "arpabet")
            for w in dec.get_alignment() for p in w]
