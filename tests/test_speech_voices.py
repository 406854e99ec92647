"""espeak-ng speech with phone timings, the demo's espeak voice, pocketsphinx alignment of human speech and
the melnorm features (identical for the same audio, little changed by the voice's pitch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gtalker import align, espeak
from gtalker.audio.mel import NORM_SCALE, log_mel, normalised_log_mel
from gtalker.demo import make_truth, synthesize_speech
from gtalker.metrics.lipsync import pearson
from gtalker.phones import CLASSES

needs_espeak = pytest.mark.skipif(not espeak.available(), reason="espeak-ng not installed (apt-get install espeak-ng)")
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
needs_testdata = pytest.mark.skipif(not (align.available() and LIBRIVOX.is_dir()),
                                    reason="pocketsphinx or pocketsphinx-testdata missing")
SENTENCE = "Mama bought a map and a big apple by the window."
# melnorm of one sentence said at espeak-ng pitch 30 and at 70 (same phones, voice an octave-ish apart):
# frame-wise correlation at least this (measured 0.96 for en-us); the same for another sentence is < 0.3.
PITCH_MIN_R = 0.9


def test_melnorm_identical_for_the_same_audio_and_normalised() -> None:
    x = synthesize_speech(3.0, seed=5).samples
    a, b = normalised_log_mel(x), normalised_log_mel(x.copy())
    assert a.shape == (1 + len(x) // 320, 40) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(a.mean(axis=0), 0.0, atol=1e-4) and np.allclose(a.std(axis=0), 1 / NORM_SCALE, atol=0.01)
    # the recording level does not matter
    assert np.allclose(normalised_log_mel(0.1 * x), a, atol=1e-3)
    assert not normalised_log_mel(np.zeros(16000, np.float32)).any()


@needs_espeak
def test_melnorm_changes_little_with_the_voice_pitch() -> None:
    low = espeak.speak(SENTENCE, "en-us", pitch=30).samples
    high = espeak.speak(SENTENCE, "en-us", pitch=70).samples
    other = espeak.speak("Seven quiet ships sail east this evening.", "en-us", pitch=30).samples
    n = min(len(low), len(high), len(other))
    a, b, c = (normalised_log_mel(x[:n]) for x in (low, high, other))
    assert pearson(a.ravel(), b.ravel()) >= PITCH_MIN_R
    assert pearson(a.ravel(), c.ravel()) < 0.3


@needs_espeak
def test_espeak_phones_cover_the_speech() -> None:
    utt = espeak.speak(SENTENCE, "en-us")
    duration = len(utt.samples) / 16000
    assert 1.5 < duration < 6
    starts = [p.start for p in utt.phones]
    assert starts == sorted(starts) and all(p.end > p.start for p in utt.phones)
    assert utt.phones[-1].end <= duration + 1e-6
    classes = [p.mouth_class for p in utt.phones]
    assert classes.count("bilabial") >= 6 and "open_vowel" in classes
    # the audio is quiet in the middle of the /p/ of "map" (lips closed) and loud in its /a/
    rms = lambda p: np.sqrt(np.mean(utt.samples[int(p.start * 16000):int(p.end * 16000)] ** 2))  # noqa: E731
    names = [p.name for p in utt.phones]
    i = names.index("p")
    assert rms(utt.phones[i]) < rms(utt.phones[i - 1])
    with pytest.raises(Exception, match="no voice"):
        espeak.speak("hello", "xx-nonexistent")


def espeak_truth_in_fresh_process(path: Path) -> dict:
    """make_truth(voice="espeak") in a new Python process (espeak-ng keeps state within a process)."""
    code = ("import sys, numpy as np; from gtalker.demo import make_truth; "
            "t, _ = make_truth(6.0, 128, seed=2, voice='espeak'); np.savez(sys.argv[1], **t)")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                   env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    return dict(np.load(path))


@needs_espeak
def test_espeak_demo_truth_is_deterministic_and_closes_on_bilabials(tmp_path: Path) -> None:
    truth, speech = make_truth(6.0, 128, seed=2, voice="espeak")
    again = espeak_truth_in_fresh_process(tmp_path / "a.npz")
    assert np.array_equal(espeak_truth_in_fresh_process(tmp_path / "b.npz")["mouth_open"], again["mouth_open"])
    assert str(truth["voice"]) == "espeak" and len(truth["phone_start"]) > 20
    centres = (np.arange(len(truth["mouth_open"])) + 0.5) / 25.0
    cls = np.full(len(centres), -1)
    for s, e, c in zip(truth["phone_start"], truth["phone_end"], truth["phone_class"]):
        cls[(centres >= s) & (centres < e)] = c
    mouth = truth["mouth_open"]
    assert mouth[cls == CLASSES.index("open_vowel")].mean() > 2 * mouth[cls == CLASSES.index("bilabial")].mean()
    assert len(speech.samples) == 6 * 16000


@needs_testdata
def test_pocketsphinx_aligns_human_speech() -> None:
    from gtalker.io.audio import load_audio

    x = load_audio(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav")  # "he was not an ill disposed young man"
    phones = align.align_phones(x, "He was not an ill disposed young man.")
    names = [p.name for p in phones if p.mouth_class != "silence"]
    assert names[:3] == ["HH", "IY", "W"] and names[-3:] == ["M", "AE", "N"]
    m = [p for p in phones if p.name == "M"][-1]
    assert 2.0 < m.start < 2.8  # "man" is said at the end of the 3 s clip
    free = align.align_phones(x)
    assert len(free) > 15 and any(p.mouth_class == "bilabial" for p in free)
    with pytest.raises(Exception, match="dictionary"):
        align.align_phones(x, "he was qqzzxx")
