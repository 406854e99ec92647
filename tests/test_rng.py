"""Checkpoints keep every random state: restoring one replays the same draws."""

from __future__ import annotations

import random

import numpy as np
import torch

from gtalker.rng import restore_rng, rng_state


def _draws() -> tuple:
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)])


def test_restore_replays_torch_numpy_and_python_draws() -> None:
    state = rng_state()
    first = _draws()
    assert _draws() != first
    restore_rng(state)
    assert _draws() == first
    assert set(state) == {"torch", "cuda", "numpy", "python"}
    if torch.cuda.is_available():
        assert len(state["cuda"]) == torch.cuda.device_count()


def test_a_torch_only_state_of_an_older_checkpoint_still_restores() -> None:
    state = {"torch": torch.get_rng_state()}
    first = torch.rand(2).tolist()
    restore_rng(state)
    assert torch.rand(2).tolist() == first
