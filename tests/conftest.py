"""Shared test helpers: repository paths, tiny videos made with ffmpeg, Snakemake runs in tmp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"


def ffmpeg() -> str:
    """The ffmpeg binary the package uses."""
    from gtalker.io.audio import ffmpeg_exe

    return ffmpeg_exe()


def make_video(path: Path, seconds: float = 2.0, size: str = "96x96", fps: float = 25,
               audio: bool = True, extra_video_filter: str | None = None,
               codec: list[str] | None = None) -> Path:
    """Write a small H.264 (+AAC) test video from ffmpeg's test sources."""
    cmd = [ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    if extra_video_filter:
        cmd += ["-vf", extra_video_filter]
    cmd += codec or ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-shortest"]
    cmd += [str(path)]
    subprocess.run(cmd, check=True)
    return path


def snakemake(workdir: Path, config: dict | None = None, targets: list[str] | None = None,
              extra: list[str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow in `workdir` with the repository's config.yaml plus `config` overrides."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
           "--configfile", str(REPO / "config.yaml")]
    if config is not None:
        override = workdir / "override.yaml"
        override.write_text(yaml.safe_dump(config))
        cmd.append(str(override))
    cmd += ["--cores", "2"] + (extra or []) + (targets or [])
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def planned_rules(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    text = proc.stdout + proc.stderr
    counts: dict[str, int] = {}
    if "Job stats:" not in text:
        return counts
    table = text.split("Job stats:", 1)[1].splitlines()
    for line in table[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: tiny scenes gain nothing from threads, and spinning OpenMP
    threads crawl on a busy CPU (use with `pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_video(tmp_path: Path) -> Path:
    """A 2 s 96x96 25 fps video with a sine tone."""
    return make_video(tmp_path / "tiny.mp4")


# A tiny version of the default pipeline: a 4 s demo at 96x96, a few training steps.
TINY = {
    "demo": {"seconds": 4, "size": 128, "seed": 1, "voice": "formant"},
    "preprocess": {"fps": 25, "size": 96},
    "canonical": {"iterations": 60, "resolution": 64, "eval_views": 4, "checkpoint_every": 30,
                  "log_every": 10},
    "talker": {"iterations": 20, "size": 64, "batch_size": 2, "checkpoint_every": 10, "log_every": 5},
    "render": {"attention_size": 64},
}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole default target run once on the tiny demo (shared by the workflow and report tests)."""
    workdir = tmp_path_factory.mktemp("wf")
    snakemake(workdir, TINY)
    return workdir
