"""Downloadable weights files: one description, one checksum rule, one downloader for every stage.

A `WeightSpec` names a file, its sha256 (the full digest, or a prefix where only a prefix is published,
as in torch-hub file names; None where nothing is published), where it can be fetched and what the user
can do without it. `download` takes a copy from a torch-hub cache when one is there, else tries the URLs
in turn, checks the digest and only then moves the file into place (nothing half-written is left).
The stages keep their own registries (face/weights.py, metrics/weights.py, talker/perceptual.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gtalker.common import InputError, atomic_path, sha256_file

log = logging.getLogger("gtalker.weights")


@dataclass(frozen=True)
class WeightSpec:
    """A downloadable weights file: name, checksum, sources and what to do without it."""

    name: str
    filename: str
    sha256: str | None     # full digest or a prefix; None: no digest is published
    urls: tuple[str, ...]
    instead: str           # what the user can do instead of fetching it (ends the error message)
    cache_names: tuple[str, ...] = ()  # file names under torch-hub caches that hold the same file
    size: int | None = None


def verify(path: str | os.PathLike, ws: WeightSpec) -> str:
    """Return the file's sha256; InputError when it does not start with the spec's digest (or prefix).

    Without a published digest the file is accepted and its digest logged, so that a change shows.
    """
    digest = sha256_file(path)
    if ws.sha256 is None:
        log.warning("%s: no published sha256 for %s; got %s (record it to detect changes)", path,
                    ws.filename, digest)
    elif not digest.startswith(ws.sha256.lower()):
        raise InputError(
            f"{path}: sha256 {digest} does not match the expected {ws.sha256} for {ws.filename}; the "
            "download is corrupt or a different file: delete it and rerun the download rule, or place "
            "the right file there")
    return digest


def torch_hub_caches() -> list[Path]:
    """Folders where torch hub (and so face-alignment) keeps downloaded checkpoints."""
    roots = []
    if os.environ.get("TORCH_HOME"):
        roots.append(Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints")
    xdg = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    roots.append(Path(xdg) / "torch" / "hub" / "checkpoints")
    return roots


def find_cached(ws: WeightSpec) -> Path | None:
    """A copy of the weights already present in a torch-hub cache, if any."""
    for root in torch_hub_caches():
        for name in ws.cache_names:
            if (root / name).is_file():
                return root / name
    return None


def missing_message(path: str | os.PathLike, ws: WeightSpec) -> str:
    """The error text for a missing weights file: what, where, how to get it, what to do instead."""
    return (f"{path}: weights file '{ws.filename}' not found. Put it there (e.g. `snakemake --cores 1 "
            f"{path}` runs the download rule, which needs network access; sources: {', '.join(ws.urls)}; "
            f"sha256 {ws.sha256 or 'not published'}), or {ws.instead}.")


def download(ws: WeightSpec, out: str | os.PathLike, urls: tuple[str, ...] | None = None,
             timeout: float = 120.0) -> Path:
    """Fetch the weights into `out` (or copy them from a torch-hub cache), sha256-checked, atomically.

    `urls` replaces the spec's sources when given.
    """
    out = Path(out)
    errors = []
    with atomic_path(out) as tmp:
        cached = find_cached(ws)
        got = False
        if cached is not None:
            shutil.copyfile(cached, tmp)
            got = True
            log.info("copied %s from %s", ws.filename, cached)
        for url in ([] if got else (urls or ws.urls)):
            try:
                log.info("downloading %s -> %s", url, out)
                with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as fh:
                    shutil.copyfileobj(resp, fh, 1 << 20)
                got = True
                break
            except OSError as err:  # URLError, HTTPError, timeouts
                errors.append(f"{url}: {err}")
                log.warning("download failed: %s: %s", url, err)
        if not got:
            raise InputError(f"could not download {ws.filename} ({'; '.join(errors)}). "
                             + missing_message(out, ws))
        digest = verify(tmp, ws)
    log.info("%s: sha256 %s", out, digest)
    return out
