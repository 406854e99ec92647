"""Pretrained weights of the face steps: where they come from, how they are checked, where they live.

Two kinds of weights exist:
- dlib models shipped inside the `face-recognition-models` wheel (found with importlib; the package's own
  `import` needs pkg_resources, which new setuptools no longer has, so it is never imported);
- downloaded files (BiSeNet face parsing, the FAN 2D landmark network) that the download rules fetch into
  resources/ with a sha256 check.

CLI (used by the download rules):
    python -m gtalker.face.weights download --name bisenet --out resources/79999_iter.pth
    python -m gtalker.face.weights check --name bisenet --path resources/79999_iter.pth
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gtalker.common import InputError, atomic_path, reports_input_errors, setup_logging, sha256_file

log = logging.getLogger("gtalker.face.weights")


@dataclass(frozen=True)
class WeightSpec:
    """A downloadable weights file: name, checksum and the places it can come from."""

    name: str
    filename: str
    sha256: str            # full digest, or a prefix (torch-hub style file names carry only a prefix)
    urls: tuple[str, ...]
    offline_backend: str   # what to configure instead when the file cannot be had
    config_key: str        # the config key that selects the backend
    cache_names: tuple[str, ...] = ()  # file names under torch-hub caches that hold the same file
    size: int | None = None


WEIGHTS: dict[str, WeightSpec] = {
    # zllrunning/face-parsing.PyTorch, trained on CelebAMask-HQ (19 classes); used by AD-NeRF/ER-NeRF/
    # GaussianTalker preprocessing. Digest as published by several projects that pin this file.
    "bisenet": WeightSpec(
        name="bisenet",
        filename="79999_iter.pth",
        sha256="468e13ca13a9b43cc0881a9f99083a430e9c0a38abd935431d1c28ee94b26567",
        urls=(
            "https://huggingface.co/ManyOtherFunctions/face-parse-bisent/resolve/main/79999_iter.pth",
            "https://github.com/clibdev/face-parsing.PyTorch/releases/latest/download/face-parsing-bisenet.pth",
        ),
        offline_backend="heuristic",
        config_key="parsing.backend",
        size=53_289_463,
    ),
    # face-alignment's 2D FAN (TorchScript archive); the file name carries the sha256 prefix (torch hub).
    "fan2d": WeightSpec(
        name="fan2d",
        filename="2DFAN4-cd938726ad.zip",
        sha256="cd938726ad",
        urls=("https://www.adrianbulat.com/downloads/python-fan/2DFAN4-cd938726ad.zip",),
        offline_backend="dlib",
        config_key="landmarks.backend",
        cache_names=("2DFAN4-cd938726ad.zip",),
    ),
}


def spec(name: str) -> WeightSpec:
    """The WeightSpec called `name`."""
    if name not in WEIGHTS:
        raise InputError(f"unknown weights '{name}'; known: {', '.join(sorted(WEIGHTS))}")
    return WEIGHTS[name]


def verify(path: str | os.PathLike, ws: WeightSpec) -> None:
    """Raise InputError when the file's sha256 does not match the spec (full digest or prefix)."""
    digest = sha256_file(path)
    if not digest.startswith(ws.sha256.lower()):
        raise InputError(
            f"{path}: sha256 {digest} does not match the expected {ws.sha256} for {ws.filename}; "
            "delete the file and rerun the download rule, or place the right file there")


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
    """The error text for a missing weights file: what, where, how to get it, what to use instead."""
    return (f"{path}: weights file '{ws.filename}' not found. Put it there (e.g. `snakemake --cores 1 "
            f"{path}` runs the download rule, which needs network access; sources: {', '.join(ws.urls)}; "
            f"sha256 {ws.sha256}), or set {ws.config_key}: {ws.offline_backend} in config.yaml to use the "
            "backend that needs no downloaded weights.")


def require(path: str | os.PathLike, name: str) -> Path:
    """Path of the weights file for `name`, looking also in torch-hub caches; InputError if absent."""
    ws = spec(name)
    p = Path(path)
    if p.is_file():
        return p
    cached = find_cached(ws)
    if cached is not None:
        log.info("using %s from the torch-hub cache: %s", ws.filename, cached)
        return cached
    raise InputError(missing_message(p, ws))


def download(name: str | WeightSpec, out: str | os.PathLike, timeout: float = 60.0) -> Path:
    """Fetch the weights (or copy them from a torch-hub cache), check sha256, move into place."""
    ws = name if isinstance(name, WeightSpec) else spec(name)
    out = Path(out)
    errors = []
    with atomic_path(out) as tmp:
        cached = find_cached(ws)
        got = False
        if cached is not None:
            shutil.copyfile(cached, tmp)
            got = True
            log.info("copied %s from %s", ws.filename, cached)
        for url in ([] if got else ws.urls):
            try:
                log.info("downloading %s", url)
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
        verify(tmp, ws)
    return out


def dlib_model(filename: str) -> Path:
    """Path of a model file shipped in the face-recognition-models wheel (without importing it)."""
    found = importlib.util.find_spec("face_recognition_models")
    if found is None or found.origin is None:
        raise InputError(
            "the dlib landmark models are missing: `pip install face-recognition-models dlib-bin` "
            "(they ship shape_predictor_68_face_landmarks.dat), or set landmarks.backend: face_alignment")
    path = Path(found.origin).parent / "models" / filename
    if not path.is_file():
        raise InputError(f"{path}: not found in the face-recognition-models package; reinstall it")
    return path


@reports_input_errors("gtalker.face.weights")
def main(argv: list[str] | None = None) -> int:
    """CLI: download or check a weights file."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("download", help="fetch weights into --out with a sha256 check")
    d.add_argument("--name", required=True, choices=sorted(WEIGHTS))
    d.add_argument("--out", required=True)
    c = sub.add_parser("check", help="verify the sha256 of an existing file")
    c.add_argument("--name", required=True, choices=sorted(WEIGHTS))
    c.add_argument("--path", required=True)
    args = ap.parse_args(argv)
    setup_logging("gtalker.face.weights")
    if args.cmd == "download":
        download(args.name, args.out)
    else:
        ws = spec(args.name)
        if not Path(args.path).is_file():
            raise InputError(missing_message(args.path, ws))
        verify(args.path, ws)
        log.info("%s: sha256 ok", args.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
