"""FrameDataset: the contract files of a dataset folder as training items."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gtalker.common import InputError
from gtalker.data import FrameDataset, read_split
from gtalker.splat.synthetic import write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny renders; spinning OpenMP threads crawl on a busy CPU
    try:
        facts = write_dataset(root, n_frames=6, size=48, n_gaussians=800, n_points=300)
    finally:
        torch.set_num_threads(before)
    feats = np.arange(6 * 16 * 2, dtype=np.float32).reshape(6, 16, 2)
    np.save(root / "features.npy", feats)
    return root, facts


def test_items_have_the_agreed_fields(dataset):
    root, facts = dataset
    split = read_split(root)
    ds = FrameDataset(str(root), split["train"], 32, audio_features=str(root / "features.npy"))
    item = ds[1]
    assert item["index"] == split["train"][1]
    assert item["image"].shape == (32, 32, 3) and item["image"].dtype == torch.float32
    assert 0 <= float(item["image"].min()) and float(item["image"].max()) <= 1
    assert item["background"].shape == (32, 32, 3)
    assert item["head_mask"].dtype == torch.bool and 0.05 < float(item["head_mask"].float().mean()) < 0.9
    assert item["K"].shape == (3, 3) and item["viewmat"].shape == (4, 4)
    assert torch.allclose(item["viewmat"][:3, :3], torch.from_numpy(facts["R"][item["index"]]))
    assert item["lip_box"].dtype == torch.int64 and item["lip_box"].shape == (4,)
    assert item["audio"].shape == (8, 16, 2)
    assert isinstance(item["blink"], float)


def test_cache_is_bounded_and_fields_are_lazy(dataset):
    root, _ = dataset
    ds = FrameDataset(str(root), list(range(6)), 16, fields=("image",), cache_items=2)
    for i in range(6):
        ds[i]
    assert len(ds._cache) == 2
    assert set(ds[0]) == {"index", "image"}


def test_missing_files_are_named(dataset, tmp_path):
    root, _ = dataset
    with pytest.raises(InputError, match="track.npz"):
        FrameDataset(str(tmp_path), [0], 16)
    ds = FrameDataset(str(root), [0, 1], 16, fields=("image",))
    with pytest.raises(InputError, match="000009"):
        FrameDataset(str(root), [9], 16, fields=("image",))[0]
    with pytest.raises(InputError, match="has 6 frames"):
        FrameDataset(str(root), [0, 99], 16)
    assert len(ds) == 2
