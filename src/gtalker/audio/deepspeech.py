"""DeepSpeech v0.1.0 character logits (29 classes, 50 Hz) through onnxruntime, as the reference computes them.

The reference input: 16 kHz audio in int16 units -> 26 MFCCs every 10 ms -> every second frame (50 Hz)
-> 9 frames of context on each side (zero-padded) -> 19 x 26 = 494 values per step -> normalised by the
mean and standard deviation of the whole matrix. The graph maps [1, T, 494] (+ the length T) to logits
[T, 1, 29]; those are resampled onto L = round(duration * 50) steps, of which the reference keeps the
first L - 1: its extraction first cuts the sequence into 1-step windows with `range(0, L - 1)`, which
leaves out the final step, before the 16-step windows per video frame. We do the same, so that the last
frames' windows equal the reference's (zero where the dropped step would be).

Obtaining the graph: the DeepSpeech v0.1.0 frozen TensorFlow graph ("output_graph.pb" in
deepspeech-0.1.0-models.tar.gz of the mozilla/DeepSpeech v0.1.0 release; the AD-NeRF/ER-NeRF helper
code downloads the same graph as "deepspeech-0_1_0-b90017e8.pb"), converted once with tf2onnx:
    python -m tf2onnx.convert --graphdef output_graph.pb --output resources/deepspeech-0.1.0.onnx \
        --inputs input_node:0,input_lengths:0 --outputs logits:0 --opset 13
The tensor names are the frozen graph's own: the reference loads it with
`tf.import_graph_def(graph_def, name="deepspeech")`, which prefixes every name with "deepspeech/", and then
asks for "deepspeech/input_node:0", "deepspeech/input_lengths:0" and "deepspeech/logits:0"; so in the file
itself they are input_node:0, input_lengths:0 and logits:0. (This module finds the inputs by type, so
any names work once converted.)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from gtalker.audio.mfcc import mfcc
from gtalker.audio.windowing import FEATURE_RATE, context_windows, resample_sequence
from gtalker.common import SAMPLE_RATE, InputError

log = logging.getLogger("gtalker.audio.deepspeech")

N_CEPS = 26
N_CONTEXT = 9
INT16_SCALE = 32768.0


def missing_model_message(path: str | os.PathLike) -> str:
    """The error for an absent graph: where to put it, how to make it, which backend works without it."""
    return (f"{path}: DeepSpeech ONNX graph not found. Convert the DeepSpeech v0.1.0 TensorFlow graph "
            "with tf2onnx (see `python -m gtalker.audio --help` or gtalker/audio/deepspeech.py) and put it "
            "there (or set audio_features.deepspeech_model in config.yaml), or choose the weight-free "
            "backend: audio_features.backend: mel")


def network_input(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, n_ceps: int = N_CEPS,
                  n_context: int = N_CONTEXT) -> np.ndarray:
    """The graph's input [T, (2 n_context + 1) n_ceps] (float32) for float audio in [-1, 1]."""
    feats = mfcc(np.asarray(samples, dtype=np.float64) * INT16_SCALE, sample_rate, n_ceps=n_ceps)[::2]
    inputs = context_windows(feats, n_context)
    std = inputs.std()
    return ((inputs - inputs.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def _session(model: str | os.PathLike, device: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    providers = ["CPUExecutionProvider"]
    if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(str(model), sess_options=opts, providers=providers)
    except Exception as err:  # onnxruntime raises its own exception types for bad files
        raise InputError(f"{model}: not a loadable ONNX graph ({err}); reconvert it as described in "
                         "gtalker/audio/deepspeech.py or choose audio_features.backend: mel") from err


def _layout(session) -> tuple[str, tuple[str, type] | None, int, int]:
    """Feature input name, (length input name, dtype), and (n_ceps, n_context) from the feature width."""
    feature_name, length, width = None, None, None
    for inp in session.get_inputs():
        if "float" in inp.type:
            feature_name, width = inp.name, inp.shape[-1]
        elif "int" in inp.type:
            length = (inp.name, np.int64 if "int64" in inp.type else np.int32)
    if feature_name is None:
        raise InputError("DeepSpeech graph has no float input; expected input_node [1, T, 494]")
    if not isinstance(width, int) or width % N_CEPS or (width // N_CEPS) % 2 == 0:
        raise InputError(f"DeepSpeech graph input width {width} is not (2 * context + 1) * 26; "
                         "expected the v0.1.0 graph with input [1, T, 494]")
    return feature_name, length, N_CEPS, (width // N_CEPS - 1) // 2


def _squeeze_batch(logits: np.ndarray) -> np.ndarray:
    """[T, 1, K] (time-major, as the TF graph) or [1, T, K] -> [T, K]."""
    if logits.ndim == 2:
        return logits
    if logits.ndim == 3 and logits.shape[1] == 1:
        return logits[:, 0]
    if logits.ndim == 3 and logits.shape[0] == 1:
        return logits[0]
    raise InputError(f"DeepSpeech graph output has shape {logits.shape}; expected [T, 1, 29]")


def deepspeech_logits(samples: np.ndarray, model: str | os.PathLike, device: str = "cpu",
                      threads: int = 2, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Logits [round(duration * 50) - 1, K] (float32) at 50 Hz for 16 kHz float audio (the final step
    left out, as the reference's extraction does)."""
    if not Path(model).exists():
        raise InputError(missing_model_message(model))
    session = _session(model, device, threads)
    feature_name, length, n_ceps, n_context = _layout(session)
    inputs = network_input(samples, sample_rate, n_ceps, n_context)
    feed = {feature_name: inputs[None]}
    if length is not None:
        feed[length[0]] = np.array([len(inputs)], dtype=length[1])
    log.info("DeepSpeech: %d steps of %d values through %s", len(inputs), inputs.shape[1], model)
    logits = _squeeze_batch(np.asarray(session.run(None, feed)[0]))
    out_len = int(round(len(samples) / sample_rate * FEATURE_RATE))
    return resample_sequence(logits, FEATURE_RATE, FEATURE_RATE, out_len)[:-1]
