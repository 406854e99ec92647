"""Bad input never passes silently (issue 17): each case runs through the workflow steps it needs and
must end with a clear error (exit code, the message's key words, no partial file under results/<dataset>/)
or with a visible notice; a killed run recovers on a plain rerun; a full disk is a message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEFILE, ffmpeg, make_video, snakemake

INGEST = ["probe", "extract_frames", "extract_audio"]
OUTPUTS = {"probe": ["ingest/probe.json", "notices/probe.json"],
           "extract_frames": ["ingest/frames", "ingest/frames.json", "notices/extract_frames.json"],
           "extract_audio": ["ingest/audio.wav", "notices/extract_audio.json"]}
TARGET = {step: OUTPUTS[step][-1] for step in INGEST}  # each step's notices: stop right after it


def _tone(path: Path, seconds: float) -> Path:
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=300:sample_rate=22050:duration={seconds}", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bad (and good) source files, made once: 12 s is long enough to pass the length check."""
    root = tmp_path_factory.mktemp("media")
    ok = make_video(root / "ok.mp4", seconds=12.0)
    whole = make_video(root / "whole.mp4", seconds=20.0,
                       codec=["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"])
    truncated = root / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # an interrupted copy
    odd = root / "it's a $HOME \"clip\" (1).mp4"
    odd.write_bytes(ok.read_bytes())
    jpeg = root / "cover.jpg"
    subprocess.run([ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64:duration=0.04",
                    "-frames:v", "1", str(jpeg)], check=True)
    return {"ok": ok, "truncated": truncated, "odd": odd, "jpeg": jpeg,
            "short_video": make_video(root / "short.mp4", seconds=2.0),
            "silent": make_video(root / "silent.mp4", seconds=12.0, audio=False),
            "audio_1s": _tone(root / "voice 1s.wav", 1.0), "audio_60s": _tone(root / "voice 60s.wav", 60.0),
            "odd_audio": _tone(root / "it's $x.wav", 12.0)}


# case -> (dataset entry, last step, exit 0?, key words of the message, notice code or None)
CASES = {
    "truncated_mp4": ({"video": "truncated"}, "probe", False,
                      ["truncated.mp4", "truncated", "20.00 s", "can be decoded", "copy the file again"], None),
    "jpeg_as_audio": ({"video": "silent", "audio": "jpeg"}, "probe", False,
                      ["cover.jpg", "not an audio file", "'audio'"], None),
    "short_audio": ({"video": "silent", "audio": "audio_1s"}, "extract_audio", False,
                    ["voice 1s.wav", "11.00 s shorter", "audio_mismatch: pad"], None),
    "short_audio_pad": ({"video": "silent", "audio": "audio_1s", "audio_mismatch": "pad"}, "extract_audio",
                        True, [], "audio_padded"),
    "long_audio": ({"video": "silent", "audio": "audio_60s"}, "extract_audio", False,
                   ["voice 60s.wav", "48.00 s longer", "audio_mismatch: trim"], None),
    "long_audio_trim": ({"video": "silent", "audio": "audio_60s", "audio_mismatch": "trim"}, "extract_audio",
                        True, [], "audio_trimmed"),
    "long_audio_pad_is_not_trim": ({"video": "silent", "audio": "audio_60s", "audio_mismatch": "pad"},
                                   "extract_audio", False, ["longer", "audio_mismatch: trim"], None),
    "short_video": ({"video": "short_video"}, "extract_frames", False,
                    ["short.mp4", "only 2.00 s of video", "allow_short: true"], None),
    "short_video_allowed": ({"video": "short_video", "allow_short": True}, "extract_frames", True, [],
                            "short_video"),
    "odd_characters_in_paths": ({"video": "odd", "audio": "odd_audio"}, "extract_audio", True, [], None),
}


def _partial_files(results: Path) -> list[Path]:
    """Hidden temp files/folders anywhere under a dataset's results (not Snakemake's own marker of a
    finished directory output)."""
    hidden = results.rglob(".*") if results.exists() else []
    return [p for p in hidden if p.name != ".snakemake_timestamp"]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_case(case: str, media: dict[str, Path], tmp_path: Path) -> None:
    entry, last, succeeds, words, notice = CASES[case]
    dataset = {k: (str(media[v]) if k in ("video", "audio") else v) for k, v in entry.items()}
    config = {"datasets": {"d": dataset}, "preprocess": {"size": 96}}
    proc = snakemake(tmp_path, config, targets=[f"results/d/{TARGET[last]}"], check=False)
    text = proc.stdout + proc.stderr
    results = tmp_path / "results/d"
    assert (proc.returncode == 0) == succeeds, text[-4000:]
    log = (tmp_path / f"logs/d/ingest/{last}.log").read_text()
    for word in words:
        assert word in log and word in text, (word, log)
    assert "Traceback" not in log
    assert not _partial_files(results), _partial_files(results)
    if succeeds:
        codes = [n["code"] for n in json.loads((results / TARGET[last]).read_text())]
        assert codes == ([notice] if notice else []), codes
        assert (results / "ingest").is_dir()
    else:
        for path in OUTPUTS[last]:  # the failing step wrote nothing
            assert not (results / path).exists(), path


@pytest.mark.slow
def test_short_video_is_named_in_the_split_as_well(media: dict[str, Path], tmp_path: Path) -> None:
    """A 2 s video (allow_short) keeps half its 50 frames for validation, and the split says it has fewer
    than 25."""
    config = {"datasets": {"d": {"video": str(media["short_video"]), "allow_short": True}},
              "preprocess": {"size": 96}}
    snakemake(tmp_path, config, targets=["results/d/notices/split_dataset.json"])
    split = json.loads((tmp_path / "results/d/split.json").read_text())
    assert len(split["val"]) == 25 and len(split["train"]) == 25
    assert json.loads((tmp_path / "results/d/notices/split_dataset.json").read_text()) == []
    config["datasets"]["d"]["end"] = 0.8  # 20 frames: only 10 can validate
    snakemake(tmp_path, config, targets=["results/d/notices/split_dataset.json"])
    notices = json.loads((tmp_path / "results/d/notices/split_dataset.json").read_text())
    assert [n["code"] for n in notices] == ["few_validation_frames"]
    assert "only 10 validation frames" in notices[0]["message"]


def test_preprocess_size_below_the_face_detectors_minimum_is_rejected(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, {"preprocess": {"size": 40}}, extra=["-n"], check=False)
    assert proc.returncode != 0
    assert "preprocess.size: 40 is less than the minimum of 96" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


# --- a killed run -------------------------------------------------------------------------------------

def _snakemake_cmd(workdir: Path, target: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
            "--configfile", str(REPO / "config.yaml"), str(workdir / "override.yaml"), "--cores", "2", target]


@pytest.mark.slow
def test_kill_9_during_frame_extraction_then_a_plain_rerun_completes(tmp_path: Path) -> None:
    """Snakemake and its step are killed (-9) while frames are written; the plain rerun releases the
    killed run's lock, removes its hidden temp folder and completes."""
    video = make_video(tmp_path / "long.mp4", seconds=60.0)
    (tmp_path / "override.yaml").write_text(yaml.safe_dump(
        {"datasets": {"k": {"video": str(video)}}, "preprocess": {"size": 512}}))
    target = "results/k/ingest/frames.json"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    run = subprocess.Popen(_snakemake_cmd(tmp_path, target), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    ingest = tmp_path / "results/k/ingest"
    deadline = time.time() + 300
    temp: list[Path] = []
    try:
        while time.time() < deadline and run.poll() is None:
            temp = list(ingest.glob(".frames.*.tmp")) if ingest.is_dir() else []
            if temp and len(list(temp[0].glob("*.jpg"))) >= 3:
                break
            time.sleep(0.02)
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # Snakemake, bash and the step: the whole session
        run.wait()
    assert temp and temp[0].exists(), "the kill must land during frame extraction"
    assert list((tmp_path / ".snakemake/locks").iterdir()), "a killed run leaves its lock"

    rerun = subprocess.run(_snakemake_cmd(tmp_path, target), capture_output=True, text=True, env=env)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert "removed the lock left by a killed run" in rerun.stderr
    assert json.loads((ingest / "frames.json").read_text())["n_frames"] == 1500
    assert len(list((ingest / "frames").glob("*.jpg"))) == 1500
    assert not _partial_files(tmp_path / "results/k")


def test_lock_of_a_live_or_unknown_run_is_kept(tmp_path: Path) -> None:
    """Only the lock files recorded by a run whose process is gone are removed."""
    from gtalker import runlock

    locks = tmp_path / runlock.LOCKS
    locks.mkdir(parents=True)
    for name in ("0.input.lock", "0.output.lock", "1.input.lock", "2.input.lock"):
        (locks / name).write_text("x")
    records = tmp_path / runlock.RECORDS
    records.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (records / f"{dead.pid}.json").write_text(json.dumps({"pid": dead.pid, "start": "1",
                                                          "locks": ["0.input.lock", "0.output.lock"]}))
    me = runlock._start_time(os.getpid())
    (records / f"{os.getpid()}.json").write_text(json.dumps({"pid": os.getpid(), "start": me,
                                                             "locks": ["1.input.lock"]}))
    assert sorted(runlock.remove_stale_locks(tmp_path)) == ["0.input.lock", "0.output.lock"]
    assert sorted(p.name for p in locks.iterdir()) == ["1.input.lock", "2.input.lock"]
    assert [p.name for p in records.iterdir()] == [f"{os.getpid()}.json"]


def test_atomic_path_removes_what_a_killed_attempt_left(tmp_path: Path) -> None:
    import tempfile

    from gtalker.common import atomic_path

    stale_dir = Path(tempfile.mkdtemp(prefix=".frames.", suffix=".tmp", dir=tmp_path))
    fd, stale_file = tempfile.mkstemp(prefix=".frames.", suffix=".tmp.json", dir=tmp_path)
    os.close(fd)
    other = tmp_path / ".landmarks.abcd1234.tmp.npz"
    other.write_text("another output's temp")
    with atomic_path(tmp_path / "frames", is_dir=True) as tmp:
        (tmp / "000000.jpg").write_bytes(b"x")
    assert not stale_dir.exists() and Path(stale_file).exists()
    with atomic_path(tmp_path / "frames.json") as tmp:
        tmp.write_text("{}")
    assert not Path(stale_file).exists() and other.exists()


# --- a full disk --------------------------------------------------------------------------------------

@pytest.fixture
def full_disk(tmp_path: Path):
    """A 256 KiB tmpfs filled up (needs root; skipped where mounting is not allowed)."""
    mount = tmp_path / "full"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        with open(mount / "filler", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_disk_full_in_the_audio_step_is_a_message(media: dict[str, Path], full_disk: Path, tmp_path: Path,
                                                  capfd: pytest.CaptureFixture) -> None:
    from gtalker.common import write_json
    from gtalker.ingest import main as ingest_main

    write_json(tmp_path / "frames.json", {"n_frames": 300, "fps": 25, "size": 96, "source": "x"})
    out = full_disk / "audio.wav"
    code = ingest_main(["audio", "--video", str(media["ok"]), "--index", str(tmp_path / "frames.json"),
                        "--out", str(out)])
    assert code == 1
    err = capfd.readouterr().err
    assert f"{out}: no space left on the disk" in err and "Free some space" in err and "Traceback" not in err
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_disk_full_in_the_landmarks_step_is_a_message(full_disk: Path, tmp_path: Path,
                                                      capfd: pytest.CaptureFixture) -> None:
    from face_synth import make_clip
    from gtalker.face.landmarks import main as landmarks_main

    make_clip(tmp_path / "frames", n=6, size=128)
    out = full_disk / "landmarks.npz"
    assert landmarks_main(["--frames", str(tmp_path / "frames"), "--out", str(out)]) == 1
    err = capfd.readouterr().err
    assert f"{out}: no space left on the disk" in err and "Traceback" not in err
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_other_os_errors_still_raise() -> None:
    from gtalker.common import reports_input_errors

    @reports_input_errors("test")
    def main() -> int:
        raise PermissionError(13, "Permission denied", "/x")

    with pytest.raises(PermissionError):
        main()
