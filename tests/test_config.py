"""Config validation: defaults filled, unknown keys and wrong types stop the run naming the key."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from conftest import REPO, make_video, planned_rules, snakemake


def _schema() -> dict:
    return yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def test_default_config_is_valid() -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    jsonschema.validate(config, _schema())


def test_every_schema_property_has_a_type_and_sections_are_closed() -> None:
    schema = _schema()
    for name, section in schema["properties"].items():
        assert "type" in section, name
        if section["type"] == "object" and name not in ("datasets", "variants"):
            assert section.get("additionalProperties") is False, name


def test_unknown_key_fails_before_any_job(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, {"preprocess": {"fsp": 30}}, extra=["-n"], check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "fsp" in text and "Additional properties are not allowed" in text
    assert not (tmp_path / "results").exists()


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, {"preprocess": {"fps": "fast"}}, extra=["-n"], check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "'fast' is not of type 'number'" in text and "fps" in text


def test_missing_dataset_video_names_dataset_and_path_and_blocks_only_its_own_jobs(tmp_path: Path) -> None:
    """The missing file is named up front; a dry run of another dataset plans its jobs; the bad dataset's
    own probe fails naming the file."""
    make_video(tmp_path / "good.mp4")
    cfg = {"datasets": {"mine": {"video": "videos/me.mp4"}, "good": {"video": "good.mp4"}}}
    proc = snakemake(tmp_path, cfg, targets=["results/good/ingest/probe.json"], extra=["-n"], check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    assert "datasets.mine.video: file 'videos/me.mp4' not found" in text
    assert planned_rules(proc) == {"probe": 1}
    proc = snakemake(tmp_path, cfg, targets=["results/mine/ingest/probe.json", "results/good/ingest/probe.json"],
                     check=False)
    assert proc.returncode != 0
    assert (tmp_path / "results/good/ingest/probe.json").exists()
    assert "videos/me.mp4: video file not found" in (tmp_path / "logs/mine/ingest/probe.log").read_text()
    assert not (tmp_path / "results/mine").exists() or not any((tmp_path / "results/mine").rglob("*.json"))


def test_bad_variant_override_names_the_variant(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, {"variants": {"base": {}, "broken": {"talker": {"no_such_key": 1}}}},
                     extra=["-n"], check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "config: variants.broken.talker: Additional properties are not allowed ('no_such_key'" in text
    proc = snakemake(tmp_path, {"variants": {"base": {}, "wide": {"talker": {"iterations": "many"}}}},
                     extra=["-n"], check=False)
    assert "variants.wide.talker.iterations: 'many' is not of type 'integer'" in proc.stdout + proc.stderr


def test_top_level_typo_prints_the_key_in_a_few_lines(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, {"preprocesss": {"fps": 30}}, extra=["-n"], check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "(top level): Additional properties are not allowed ('preprocesss' was unexpected)" in text
    assert len(text.splitlines()) < 15, text


def test_dry_run_of_default_config_plans_the_demo(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, None, extra=["-n"])
    text = proc.stdout + proc.stderr
    assert "make_demo_video" in text and "extract_frames" in text


def test_snakemake_lint_is_clean(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, None, extra=["--lint"], check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
