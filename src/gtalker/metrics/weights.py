"""Weights the evaluation can use when present: what they are, where they come from, their checksums.

None of them is needed: without them LPIPS and LSE-C/LSE-D are reported as null with the reason.
The download rules (workflow/rules/evaluate.smk) call `python -m gtalker.metrics download`.
"""

from __future__ import annotations

import logging
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gtalker.common import InputError, atomic_path, sha256_file

log = logging.getLogger("gtalker.metrics.weights")


@dataclass(frozen=True)
class Weights:
    """A downloadable file with its published source and sha256 (None where none is published)."""

    name: str
    filename: str
    url: str
    sha256: str | None
    used_for: str


WEIGHTS = {
    "lpips_alexnet": Weights(
        "lpips_alexnet", "alexnet-owt-7be5be79.pth",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", "LPIPS backbone (torchvision)"),
    "lpips_linear": Weights(
        "lpips_linear", "lpips_alex_v0.1.pth",
        "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
        "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        "LPIPS linear layers (also inside the lpips wheel as lpips/weights/v0.1/alex.pth)"),
    "syncnet": Weights(
        "syncnet", "syncnet_v2.model",
        "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
        None, "SyncNet LSE-C/LSE-D (joonson/syncnet_python)"),
}


def verify(path: str | os.PathLike, w: Weights) -> str:
    """Check the file's sha256 against the published one (when there is one); return the digest."""
    digest = sha256_file(path)
    if w.sha256 is None:
        log.warning("%s: no published sha256 for %s; got %s (record it to detect changes)", path,
                    w.filename, digest)
    elif digest != w.sha256:
        raise InputError(f"{path}: sha256 {digest} differs from the published {w.sha256} of {w.filename}; "
                         "the download is corrupt or a different file: delete it and download again")
    return digest


def download(name: str, out: str | os.PathLike, url: str | None = None, timeout: float = 120.0) -> str:
    """Fetch weights into `out` (atomically, sha256-checked); return the digest."""
    if name not in WEIGHTS:
        raise InputError(f"unknown weights '{name}'; known: {', '.join(WEIGHTS)}")
    w = WEIGHTS[name]
    source = url or w.url
    with atomic_path(out) as tmp:
        try:
            log.info("downloading %s -> %s", source, out)
            with urllib.request.urlopen(source, timeout=timeout) as resp, open(tmp, "wb") as fh:
                shutil.copyfileobj(resp, fh, 1 << 20)
        except OSError as err:
            raise InputError(f"could not download {w.filename} from {source} ({err}); fetch it by hand and "
                             f"place it at {out} (sha256 {w.sha256 or 'not published'}). Evaluation works "
                             "without it: the metric it serves is reported as null.") from err
        digest = verify(tmp, w)
    return digest


def present(path: str | os.PathLike) -> bool:
    """Whether a weights file exists (a missing file is not an error for evaluation)."""
    return Path(path).is_file()
