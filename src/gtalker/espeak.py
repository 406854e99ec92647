"""espeak-ng speech with its phoneme timings, through the system library libespeak-ng (ctypes).

`speak(text, voice)` -> `Utterance` (16 kHz float32 samples and the phones espeak-ng said, with their
start and end times). The library comes from the `espeakng-loader` wheel (a pinned espeak-ng 1.52 with
its data, so the demo voice is the same on every machine and needs no system package); without that wheel,
the system's libespeak-ng (Debian/Ubuntu package `espeak-ng`). `available()` says whether either loads. Voices: `espeak-ng --voices` (e.g. en-us, en-gb, de, fr, es; a variant after '+',
e.g. en-us+f3 for a female voice).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gtalker.common import SAMPLE_RATE, InputError
from gtalker.phones import Phone

_SYNCHRONOUS = 2          # espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS
_PHONEME_EVENTS = 0x0001  # espeakINITIALIZE_PHONEME_EVENTS
_DONT_EXIT = 0x8000       # espeakINITIALIZE_DONT_EXIT
_EVENT_END_LIST, _EVENT_PHONEME = 0, 7
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_PITCH = 1, 3
_LOCK = threading.Lock()
_RATE: int | None = None


class _Event(ctypes.Structure):
    """espeak_EVENT of speak_lib.h (the id union read as its 8-byte string member)."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class Utterance:
    """Speech from espeak-ng: 16 kHz mono float32 and its phones (times in seconds)."""

    samples: np.ndarray
    phones: list[Phone]
    voice: str
    text: str


def available() -> bool:
    """Whether libespeak-ng can be loaded."""
    try:
        _library()
    except InputError:
        return False
    return True


def _wheel() -> tuple[str, str] | None:
    """(library, data folder) of the espeakng-loader wheel, None when it is not installed."""
    try:
        import espeakng_loader
    except ImportError:
        return None
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


@lru_cache(maxsize=1)
def _library() -> tuple[ctypes.CDLL, bytes | None]:
    """The loaded library and the data folder to initialise it with (None: the library's own)."""
    wheel = _wheel()
    if wheel is not None:
        try:
            return ctypes.CDLL(wheel[0]), wheel[1].encode()
        except OSError:
            pass  # a wheel for another platform: try the system library
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        return ctypes.CDLL(name), None
    except OSError as err:
        raise InputError("espeak-ng is not available (needed for the espeak demo voice and espeak voices): "
                         "pip install espeakng-loader (make setup does), or apt-get install espeak-ng") from err


def _seed(lib: ctypes.CDLL) -> None:
    """Reset the noise of breathy variants (e.g. +f3) before each utterance: espeak-ng 1.52 draws it from
    its own generator (espeak_ng_SetRandSeed), older versions from the C library's rand()."""
    if hasattr(lib, "espeak_ng_SetRandSeed"):
        lib.espeak_ng_SetRandSeed(ctypes.c_long(0))


def _initialise(lib: ctypes.CDLL, data: bytes | None) -> int:
    """Initialise the library once per process; returns its sample rate. espeak-ng keeps state from one
    utterance to the next (its output depends a little on what it said before in the same process), so
    the same sequence of calls in a fresh process gives the same audio, a repeated call need not."""
    global _RATE
    if _RATE is None:
        rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, data, _PHONEME_EVENTS | _DONT_EXIT)
        if rate <= 0:
            raise InputError("espeak-ng failed to initialise (its data folder espeak-ng-data is missing?)")
        _RATE = int(rate)
    return _RATE


def speak(text: str, voice: str = "en-us", rate_wpm: int | None = None, pitch: int | None = None) -> Utterance:
    """Synthesise `text` with an espeak-ng voice; rate in words per minute (default 175), pitch 0..99."""
    from scipy.signal import resample_poly

    if not text.strip():
        raise InputError("espeak: nothing to say (empty text)")
    lib, data_dir = _library()
    chunks: list[np.ndarray] = []
    events: list[tuple[int, str]] = []

    def collect(wav, n, ev) -> int:  # noqa: ANN001 (ctypes callback)
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while ev[i].type != _EVENT_END_LIST:
            if ev[i].type == _EVENT_PHONEME:
                events.append((int(ev[i].sample), ev[i].id.decode("utf-8", errors="replace")))
            i += 1
        return 0

    callback = _CALLBACK(collect)
    data = text.encode("utf-8")
    with _LOCK:
        rate = _initialise(lib, data_dir)
        lib.espeak_SetSynthCallback(callback)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise InputError(f"espeak-ng has no voice '{voice}' (list them with: espeak-ng --voices)")
        lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm or 175), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(50 if pitch is None else pitch), 0)
        _seed(lib)
        status = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        lib.espeak_Synchronize()
    if status != 0 or not chunks:
        raise InputError(f"espeak-ng could not say {text[:40]!r} with voice '{voice}' (status {status})")
    wav = np.concatenate(chunks).astype(np.float32) / 32768.0
    g = np.gcd(SAMPLE_RATE, rate)
    samples = resample_poly(wav, SAMPLE_RATE // g, rate // g).astype(np.float32)
    return Utterance(samples, phones_from_events(events, len(wav) / rate, rate), voice, text)


def phones_from_events(events: list[tuple[int, str]], duration: float, rate: int) -> list[Phone]:
    """Phone segments from (start sample, name) events: each lasts until the next one starts."""
    events = sorted(events, key=lambda e: e[0])
    out = []
    for i, (start, name) in enumerate(events):
        end = events[i + 1][0] / rate if i + 1 < len(events) else duration
        if end > start / rate and name:
            out.append(Phone(start / rate, min(end, duration), name, "espeak"))
    return out
