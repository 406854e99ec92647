"""Weights the evaluation can use when present: what they are, where they come from, their checksums.

None of them is needed: without them LPIPS and LSE-C/LSE-D are reported as null with the reason.
The download rules (workflow/rules/evaluate.smk) call `python -m gtalker.metrics download`, which
fetches and checks them with gtalker.weights.
"""

from __future__ import annotations

import os
from pathlib import Path

from gtalker.common import InputError
from gtalker.weights import WeightSpec, download as fetch

INSTEAD = "evaluate without it: the metric it serves is reported as null"

WEIGHTS = {
    "lpips_alexnet": WeightSpec(
        "lpips_alexnet", "alexnet-owt-7be5be79.pth",
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
        ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",),
        INSTEAD + " (LPIPS backbone, torchvision)"),
    "lpips_linear": WeightSpec(
        "lpips_linear", "lpips_alex_v0.1.pth",
        "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        ("https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",),
        INSTEAD + " (LPIPS linear layers, also inside the lpips wheel as lpips/weights/v0.1/alex.pth)"),
    "syncnet": WeightSpec(
        "syncnet", "syncnet_v2.model", None,
        ("http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",),
        INSTEAD + " (SyncNet LSE-C/LSE-D, joonson/syncnet_python)"),
}


def download(name: str, out: str | os.PathLike, url: str | None = None, timeout: float = 120.0) -> Path:
    """Fetch weights `name` into `out` (atomically, sha256-checked; `url` replaces the source)."""
    if name not in WEIGHTS:
        raise InputError(f"unknown weights '{name}'; known: {', '.join(WEIGHTS)}")
    return fetch(WEIGHTS[name], out, urls=(url,) if url else None, timeout=timeout)


def present(path: str | os.PathLike) -> bool:
    """Whether a weights file exists (a missing file is not an error for evaluation)."""
    return Path(path).is_file()
