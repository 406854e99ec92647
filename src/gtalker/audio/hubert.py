"""HuBERT hidden states (50 Hz) from a local transformers model folder (optional `hubert` extra).

The convolutional front end has a 400-sample receptive field and a 320-sample stride; padding the audio
by 200 samples centres output j on sample 320 j, the same 50 Hz grid as the other backends. Long audio is
processed in chunks with one second of context on each side, so memory does not grow with its length.
Typical folder: a saved "facebook/hubert-large-ls960-ft" (config.json + weights), as ER-NeRF uses.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from gtalker.common import SAMPLE_RATE, InputError

log = logging.getLogger("gtalker.audio.hubert")

STRIDE = 320
FIELD = 400


def missing_model_message(path: str | os.PathLike) -> str:
    """The error for an absent model folder."""
    return (f"{path}: HuBERT model folder not found (needs config.json and the weights, e.g. "
            "facebook/hubert-large-ls960-ft saved with save_pretrained). Put it there or set "
            "audio_features.hubert_model in config.yaml, or choose audio_features.backend: mel")


def _normalise_flag(folder: Path, feat_extract_norm: str) -> bool:
    """Whether the waveform is zero-mean/unit-variance normalised, as the model's feature extractor says."""
    pre = folder / "preprocessor_config.json"
    if pre.exists():
        return bool(json.loads(pre.read_text()).get("do_normalize", True))
    return feat_extract_norm == "layer"


def load_model(folder: str | os.PathLike, device: str = "cpu"):
    """(model in eval mode on device, do_normalize)."""
    path = Path(folder)
    if not (path / "config.json").exists():
        raise InputError(missing_model_message(path))
    try:
        from transformers import HubertModel
    except ImportError as err:
        raise InputError("the hubert backend needs the 'transformers' package: pip install "
                         "'gtalker[hubert]' (or transformers --no-deps), or choose audio_features.backend: "
                         "mel") from err
    try:
        model = HubertModel.from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot load a HuBERT model ({err})") from err
    return model.eval().to(device), _normalise_flag(path, model.config.feat_extract_norm)


def padded_slice(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """x[start:stop] with zeros where the range leaves x."""
    out = np.zeros(stop - start, dtype=np.float32)
    lo, hi = max(start, 0), min(stop, len(x))
    if hi > lo:
        out[lo - start:hi - start] = x[lo:hi]
    return out


def hubert_states(samples: np.ndarray, folder: str | os.PathLike, device: str = "cpu", layer: int = -1,
                  chunk_steps: int = 1000, context_steps: int = 50,
                  sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Hidden states [1 + len // 320, hidden] (float32) at 50 Hz; `layer` indexes hidden_states."""
    import torch

    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"HuBERT expects {SAMPLE_RATE} Hz audio, got {sample_rate}")
    model, normalise = load_model(folder, device)
    x = np.asarray(samples, dtype=np.float32)
    if normalise:
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    n_steps = 1 + len(x) // STRIDE
    parts = []
    with torch.inference_mode():
        for s in range(0, n_steps, chunk_steps):
            e = min(n_steps, s + chunk_steps)
            a, b = s - context_steps, e + context_steps  # output steps computed for this chunk
            wav = padded_slice(x, a * STRIDE - FIELD // 2, (b - 1) * STRIDE + FIELD // 2)
            out = model(torch.from_numpy(wav)[None].to(device), output_hidden_states=True)
            states = out.hidden_states[layer][0]
            parts.append(states[context_steps:context_steps + (e - s)].float().cpu().numpy())
            log.info("HuBERT: steps %d-%d of %d", s, e, n_steps)
    return np.concatenate(parts).astype(np.float32)
