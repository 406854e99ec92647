"""HuBERT backend on a tiny random model saved by the test (needs the optional transformers package)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gtalker.audio import FeatureConfig, extract_features
from gtalker.audio.hubert import hubert_states, padded_slice
from gtalker.common import InputError

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_hubert(tmp_path_factory) -> Path:
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    cfg = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                       feat_extract_norm="layer", do_stable_layer_norm=False)
    folder = tmp_path_factory.mktemp("hubert")
    HubertModel(cfg).save_pretrained(folder)
    return folder


def test_padded_slice():
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(padded_slice(x, -2, 3), [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(padded_slice(x, 3, 8), [4, 5, 0, 0, 0])


def test_hubert_states_shape_on_50hz_grid(tiny_hubert: Path):
    x = np.random.default_rng(0).normal(size=16000 + 500).astype(np.float32) * 0.1
    states = hubert_states(x, tiny_hubert)
    assert states.shape == (1 + len(x) // 320, 32) and states.dtype == np.float32
    assert np.all(np.isfinite(states))


def test_chunking_is_seamless_for_local_layers(tiny_hubert: Path):
    """With layer-norm front ends, hidden_states[0] (conv front end + positional conv) is local, so
    chunked == one chunk exactly where the stitching is right."""
    x = np.random.default_rng(1).normal(size=int(0.8 * 16000)).astype(np.float32) * 0.1
    one = hubert_states(x, tiny_hubert, layer=0, chunk_steps=10_000, context_steps=12)
    chunked = hubert_states(x, tiny_hubert, layer=0, chunk_steps=7, context_steps=12)
    np.testing.assert_allclose(chunked, one, rtol=1e-4, atol=1e-4)
    # the last layer differs across chunks (global attention) but keeps the length
    assert hubert_states(x, tiny_hubert, chunk_steps=20).shape == one.shape


def test_hubert_backend_windows(tiny_hubert: Path):
    x = np.random.default_rng(2).normal(size=16000).astype(np.float32) * 0.1
    feats = extract_features(x, 25, 25, FeatureConfig(backend="hubert", hubert_model=str(tiny_hubert)))
    assert feats.shape == (25, 16, 32)


def test_normalisation_flag_from_preprocessor_config(tiny_hubert: Path, tmp_path: Path):
    from gtalker.audio.hubert import _normalise_flag

    assert _normalise_flag(tmp_path, "group") is False  # no preprocessor_config.json yet
    assert _normalise_flag(tmp_path, "layer") is True
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": False}))
    assert _normalise_flag(tmp_path, "layer") is False


def test_missing_folder_is_clear(tmp_path: Path):
    with pytest.raises(InputError, match="backend: mel"):
        hubert_states(np.zeros(16000, np.float32), tmp_path / "none")


def test_output_j_is_centred_on_sample_320j(tiny_hubert: Path):
    """Equals one model call on the audio padded by half the 400-sample receptive field on each side."""
    import torch
    from transformers import HubertModel

    x = np.random.default_rng(3).normal(size=8000).astype(np.float32) * 0.1
    ours = hubert_states(x, tiny_hubert, layer=0, chunk_steps=6, context_steps=12)
    xn = (x - x.mean()) / np.sqrt(x.var() + 1e-7)  # layer-norm front end: do_normalize
    model = HubertModel.from_pretrained(str(tiny_hubert)).eval()
    with torch.inference_mode():
        out = model(torch.from_numpy(np.pad(xn, 200))[None], output_hidden_states=True)
    direct = out.hidden_states[0][0].numpy()
    n = len(ours)
    assert direct.shape[0] >= n
    # away from the ends (where the chunk context adds zeros beyond the file) they must agree
    np.testing.assert_allclose(ours[10:n - 10], direct[10:n - 10], rtol=1e-4, atol=1e-4)
