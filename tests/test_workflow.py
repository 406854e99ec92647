"""End-to-end Snakemake runs on a tiny demo, and incremental reruns (what a config change plans)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY, planned_rules, snakemake


@pytest.mark.slow
def test_ingest_outputs_exist_and_agree(tiny_run: Path) -> None:
    ingest = tiny_run / "results/demo/ingest"
    meta = json.loads((ingest / "frames.json").read_text())
    assert meta["n_frames"] == 100
    assert len(list((ingest / "frames").glob("*.jpg"))) == 100
    import soundfile as sf

    info = sf.info(str(ingest / "audio.wav"))
    assert info.samplerate == 16000 and info.channels == 1 and info.frames == 100 * 640
    assert (tiny_run / "logs/demo/ingest/extract_frames.log").exists()


@pytest.mark.slow
def test_default_target_reaches_videos_and_metrics(tiny_run: Path) -> None:
    """The default target runs every stage: renders with sound, metrics, and the comparison table."""
    from gtalker.io.video import probe

    base = tiny_run / "results/demo/base"
    for video in ("render/val.mp4", "render/custom/speech.mp4", "render/attention.mp4"):
        info = probe(base / video)
        assert info["n_frames"] > 0, video
    assert probe(base / "render/val.mp4")["has_audio"]
    assert probe(base / "render/custom/speech.mp4")["has_audio"]
    metrics = json.loads((base / "metrics.json").read_text())
    assert metrics["psnr"] is not None and metrics["psnr"] > 10
    table = (tiny_run / "results/compare.tsv").read_text().splitlines()
    assert table[0].startswith("dataset\tvariant") and table[1].startswith("demo\tbase")


@pytest.mark.slow
def test_nothing_changed_plans_nothing(tiny_run: Path) -> None:
    proc = snakemake(tiny_run, TINY, extra=["-n"])
    assert planned_rules(proc) == {}, proc.stdout[-2000:]


@pytest.mark.slow
def test_changing_fps_reruns_frames_and_what_follows(tiny_run: Path) -> None:
    changed = {**TINY, "preprocess": {**TINY["preprocess"], "fps": 20}}
    plan = planned_rules(snakemake(tiny_run, changed, extra=["-n"]))
    assert plan.get("extract_frames") == 1 and plan.get("extract_audio") == 1
    assert "make_demo_video" not in plan and "probe" not in plan


@pytest.mark.slow
def test_unrelated_key_plans_nothing(tiny_run: Path) -> None:
    changed = {**TINY, "device": "cpu"}
    assert planned_rules(snakemake(tiny_run, changed, extra=["-n"])) == {}


@pytest.mark.slow
def test_code_change_reruns_the_step(tiny_run: Path) -> None:
    """A step's code is an input: editing it plans that step (and what follows) again."""
    from conftest import REPO

    src = REPO / "src/gtalker/ingest.py"
    original = src.read_bytes()
    try:
        src.write_bytes(original + b"\n# edited by test_code_change_reruns_the_step\n")
        plan = planned_rules(snakemake(tiny_run, TINY, extra=["-n"]))
    finally:
        src.write_bytes(original)
    assert plan.get("probe") == 1 and plan.get("extract_frames") == 1
    assert "make_demo_video" not in plan


@pytest.mark.slow
def test_a_no_face_model_variant_runs_beside_an_unchanged_base(tiny_run: Path) -> None:
    """Adding a landmark-camera variant plans its own jobs only (the base's stay done), and its
    canonical and talker train on the view's cameras (canonical.cameras: landmarks)."""
    from gtalker.fit.tracker import load_head_fit

    config = {**TINY, "variants": {"base": {}, "nofm": {"canonical": {"cameras": "landmarks", "init": "landmarks"}}}}
    plan = planned_rules(snakemake(tiny_run, config, extra=["-n"]))
    for rule in ("train_canonical", "train_talker", "render_val", "evaluate"):
        assert plan.get(rule) == 1, (rule, plan)                 # the new variant's job alone
    assert "fit_face_model" not in plan and "init_points" not in plan and plan.get("landmark_cameras") == 1
    snakemake(tiny_run, config, targets=["results/demo/nofm/talker/model.pt"])
    view = tiny_run / "results/demo/_landmark_cameras"
    assert load_head_fit(view / "fit/track.npz").model == "template68" and (view / "face").is_symlink()
    log = (tiny_run / "logs/demo/canonical/train_canonical.nofm.log").read_text()
    assert "gaussians" in log
    assert planned_rules(snakemake(tiny_run, TINY, extra=["-n"])) == {}       # the default run is still done
