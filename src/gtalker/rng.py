"""Every random state that affects a training result, for checkpoints: a resumed run draws the same
numbers as an uninterrupted one (torch on the CPU and on every CUDA device, numpy, Python's random)."""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import torch

log = logging.getLogger("gtalker.rng")


def rng_state() -> dict[str, Any]:
    """The current random states, to store in a checkpoint."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Restore states saved by rng_state (a checkpoint with only "torch" restores that). CUDA states are
    restored when this machine has the same number of devices, else left (logged): the run goes on, but
    draws on the GPU differ from an uninterrupted run."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    elif cuda:
        log.warning("checkpoint holds %d CUDA random states, this machine has %d devices: not restored",
                    len(cuda), torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if "numpy" in state:
        np.random.set_state(state["numpy"])
    if "python" in state:
        random.setstate(state["python"])
