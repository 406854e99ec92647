"""Pretrained weights of the face steps: where they come from, how they are checked, where they live.

Two kinds of weights exist:
- dlib models shipped inside the `face-recognition-models` wheel (found with importlib; the package's own
  `import` needs pkg_resources, which new setuptools no longer has, so it is never imported);
- downloaded files (BiSeNet face parsing, the FAN 2D landmark network) that the download rules fetch into
  resources/ with a sha256 check (gtalker.weights).

CLI (used by the download rules):
    python -m gtalker.face.weights download --name bisenet --out resources/79999_iter.pth
    python -m gtalker.face.weights check --name bisenet --path resources/79999_iter.pth
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path

from gtalker.common import InputError, reports_input_errors, setup_logging
from gtalker.weights import WeightSpec, download, find_cached, missing_message, verify

log = logging.getLogger("gtalker.face.weights")
NO_WEIGHTS = "set {key}: {backend} in config.yaml to use the backend that needs no downloaded weights"


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
        instead=NO_WEIGHTS.format(key="parsing.backend", backend="heuristic"),
        size=53_289_463,
    ),
    # face-alignment's 2D FAN (TorchScript archive); the file name carries the sha256 prefix (torch hub).
    "fan2d": WeightSpec(
        name="fan2d",
        filename="2DFAN4-cd938726ad.zip",
        sha256="cd938726ad",
        urls=("https://www.adrianbulat.com/downloads/python-fan/2DFAN4-cd938726ad.zip",),
        instead=NO_WEIGHTS.format(key="landmarks.backend", backend="dlib"),
        cache_names=("2DFAN4-cd938726ad.zip",),
    ),
}


def spec(name: str) -> WeightSpec:
    """The WeightSpec called `name`."""
    if name not in WEIGHTS:
        raise InputError(f"unknown weights '{name}'; known: {', '.join(sorted(WEIGHTS))}")
    return WEIGHTS[name]


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
        download(spec(args.name), args.out, timeout=60.0)
    else:
        ws = spec(args.name)
        if not Path(args.path).is_file():
            raise InputError(missing_message(args.path, ws))
        verify(args.path, ws)
        log.info("%s: sha256 ok", args.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
