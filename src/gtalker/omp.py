"""How idle OpenMP threads wait (torch's and numba's libgomp), set before either library is loaded.

Standard library only: the workflow and the steps' CLIs import it before torch.
"""

from __future__ import annotations

import os

# Idle threads spin ~0.1 ms (libgomp counts ~100,000 rounds per ms), then sleep. Measured on 2 cores
# (training steps): against sleeping at once (PASSIVE alone) 5-12% faster on a quiet machine and about as
# fast with two busy processes beside it; libgomp's default spin (3 ms) is 8x slower with them.
WAITING = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "10000"}


def set_default_waiting() -> None:
    """Put WAITING into the environment where the user has not set these variables."""
    for key, value in WAITING.items():
        os.environ.setdefault(key, value)


def shell_exports() -> str:
    """The same defaults as shell exports (the user's environment wins)."""
    return "".join(f"export {key}=${{{key}:-{value}}}; " for key, value in WAITING.items())
