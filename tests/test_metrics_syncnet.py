"""SyncNet (syncnet_v2.model layout) on made-up weights, and the LSE-C/LSE-D arithmetic."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gtalker.common import InputError
from gtalker.metrics.syncnet import (SyncNet, crop_box, face_crop, load_syncnet, lse, lse_scores,
                                     smooth_boxes, sync_distances)

# Shapes of the published layout (joonson/syncnet_python SyncNetModel.S): a sample of its keys.
LAYOUT = {
    "netcnnaud.0.weight": (64, 1, 3, 3), "netcnnaud.1.running_mean": (64,),
    "netcnnaud.4.weight": (192, 64, 3, 3), "netcnnaud.8.weight": (384, 192, 3, 3),
    "netcnnaud.11.weight": (256, 384, 3, 3), "netcnnaud.14.weight": (256, 256, 3, 3),
    "netcnnaud.18.weight": (512, 256, 5, 4), "netcnnaud.19.running_var": (512,),
    "netfcaud.0.weight": (512, 512), "netfcaud.1.weight": (512,), "netfcaud.3.weight": (1024, 512),
    "netcnnlip.0.weight": (96, 3, 5, 7, 7), "netcnnlip.4.weight": (256, 96, 1, 5, 5),
    "netcnnlip.8.weight": (256, 256, 1, 3, 3), "netcnnlip.11.weight": (256, 256, 1, 3, 3),
    "netcnnlip.14.weight": (256, 256, 1, 3, 3), "netcnnlip.18.weight": (512, 256, 1, 6, 6),
    "netfclip.3.weight": (1024, 512), "netfclip.3.bias": (1024,),
}


def made_up_weights(path: Path, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = SyncNet()
    state = {k: v.clone() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    for k in state:
        if k.endswith("running_var"):
            state[k] = torch.rand_like(state[k]) + 0.5
        elif k.endswith("running_mean"):
            state[k] = torch.randn_like(state[k]) * 0.1
    torch.save(state, path)
    return state


def test_layout_matches_published_keys():
    shapes = {k: tuple(v.shape) for k, v in SyncNet().state_dict().items()}
    for key, shape in LAYOUT.items():
        assert shapes[key] == shape, key
    assert not any(k.startswith(("audio", "video")) for k in shapes)


def test_load_and_embed_shapes(tmp_path: Path):
    state = made_up_weights(tmp_path / "syncnet_v2.model")
    model = load_syncnet(tmp_path / "syncnet_v2.model")
    assert torch.equal(model.state_dict()["netcnnaud.19.running_var"], state["netcnnaud.19.running_var"])
    with torch.inference_mode():
        assert model.forward_aud(torch.randn(3, 1, 13, 20)).shape == (3, 1024)
        assert model.forward_lip(torch.rand(2, 3, 5, 224, 224) * 255).shape == (2, 1024)


def test_load_errors(tmp_path: Path):
    with pytest.raises(InputError, match="download_syncnet_weights"):
        load_syncnet(tmp_path / "none.model")
    torch.save({"netcnnaud.0.weight": torch.zeros(1)}, tmp_path / "bad.model")
    with pytest.raises(InputError, match="not a syncnet_v2.model"):
        load_syncnet(tmp_path / "bad.model")


def test_lse_scores_recover_known_offset():
    """Video window i embeds like audio window i + 3: the min of the mean distance is at shift +3."""
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(40, 8, generator=g)
    video = torch.zeros_like(audio)
    video[:-3] = audio[3:]
    video[-3:] = torch.randn(3, 8, generator=g)
    dists = sync_distances(video, audio, vshift=5)
    assert dists.shape == (40, 11)
    out = lse_scores(dists, vshift=5)
    assert out["syncnet_offset_frames"] == -3  # vshift - argmin, as syncnet_python reports it
    mean = dists.mean(dim=0)
    assert out["lse_d"] == pytest.approx(float(mean.min()))
    assert out["lse_c"] == pytest.approx(float(mean.median() - mean.min()))
    assert out["lse_c"] > 0


def test_face_crop_geometry_and_order():
    img = np.zeros((200, 200, 3), np.uint8)
    img[..., 0] = 255  # pure red in RGB
    crop = face_crop(img, 100, 100, 40)
    assert crop.shape == (224, 224, 3)
    assert crop[112, 112, 2] == 255 and crop[112, 112, 0] == 0  # BGR
    edge = face_crop(img, 10, 10, 40)  # outside the frame: grey 110 fill
    assert tuple(edge[0, 0]) == (110, 110, 110)
    assert crop_box((10, 20, 50, 100), scale=1.0) == (30.0, 60.0, 40.0)
    boxes = np.tile([[50.0, 50.0, 20.0]], (15, 1))
    boxes[7] = (90, 90, 40)
    np.testing.assert_allclose(smooth_boxes(boxes)[7], (50, 50, 20))


def test_lse_end_to_end_on_made_up_weights(tmp_path: Path):
    made_up_weights(tmp_path / "s.model")
    model = load_syncnet(tmp_path / "s.model")
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(8)]
    audio = rng.normal(size=8 * 640) * 3000
    out = lse(model, crops, audio, vshift=2)
    assert out["syncnet_windows"] == 3
    assert np.isfinite(out["lse_d"]) and out["lse_c"] >= 0
    with pytest.raises(InputError):
        lse(model, crops[:4], audio, vshift=2)
