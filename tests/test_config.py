"""Config validation: defaults filled, unknown keys and wrong types stop the run naming the key."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from conftest import REPO, snakemake


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


def test_missing_dataset_video_names_dataset_and_path(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, {"datasets": {"mine": {"video": "videos/me.mp4"}}}, extra=["-n"], check=False)
    assert proc.returncode != 0
    assert "datasets.mine.video: file 'videos/me.mp4' not found" in proc.stdout + proc.stderr


def test_bad_variant_override_names_the_variant(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, {"variants": {"base": {}, "broken": {"talker": {"no_such_key": 1}}}},
                     extra=["-n"], check=False)
    assert proc.returncode != 0
    assert "variants.broken.talker" in proc.stdout + proc.stderr


def test_dry_run_of_default_config_plans_the_demo(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, None, extra=["-n"])
    text = proc.stdout + proc.stderr
    assert "make_demo_video" in text and "extract_frames" in text


def test_snakemake_lint_is_clean(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, None, extra=["--lint"], check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
