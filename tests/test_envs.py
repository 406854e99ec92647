"""The per-step conda environments (envs/*.yaml) pin the versions the tests run with."""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from conftest import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))
# Installed only with the GPU extra (not by `make setup`): a range, checked against pyproject instead.
GPU_ONLY = {"gsplat"}


def pip_requirements(path: Path) -> list[Requirement]:
    """The pip section of a conda env file as requirements (option lines such as --extra-index-url left out)."""
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pip = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, f"{path.name}: expected one pip section"
    return [Requirement(line) for line in pip[0] if not line.startswith("-")]


def agrees(pin: str, installed: str) -> bool:
    """A pin with a local label (2.13.0+cpu) must match exactly; without one, the public version."""
    want, have = Version(pin), Version(installed)
    return want == have if want.local else want == Version(have.public)


def test_agrees_compares_public_and_local_versions() -> None:
    assert agrees("2.13.0", "2.13.0+cpu") and agrees("2.13.0+cpu", "2.13.0+cpu")
    assert not agrees("2.13.0+cpu", "2.13.0+cu126") and not agrees("2.12.0", "2.13.0+cpu")
    assert agrees("20.0.1.post1", "20.0.1.post1") and not agrees("20.0.1", "20.0.1.post1")


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_pins_match_installed_versions(path: Path) -> None:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    assert sorted(conda) == sorted(["pip", f"python={sys.version_info.major}.{sys.version_info.minor}"]), (
        f"{path.name}: conda part must be python (= the test interpreter's minor version) and pip; "
        "everything else goes in the pip section, pinned")
    wrong = []
    for req in pip_requirements(path):
        if req.name in GPU_ONLY:
            continue
        pins = [s for s in req.specifier if s.operator == "=="]
        assert len(pins) == 1 and len(req.specifier) == 1, f"{path.name}: {req} is not pinned with =="
        try:
            installed = md.version(req.name)
        except md.PackageNotFoundError:
            wrong.append(f"{req.name} (not installed)")
            continue
        if not agrees(pins[0].version, installed):
            wrong.append(f"{req.name}=={pins[0].version} (installed {installed})")
    assert not wrong, f"{path.name}: pins differ from the installed versions: {', '.join(wrong)}; update the pin"


def test_gpu_only_packages_are_a_pyproject_extra() -> None:
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = {Requirement(r).name for r in extras.get("gpu", [])}
    assert GPU_ONLY <= named
