"""The talker/render config sections: every key reaches its step as a CLI flag (defaults: test_settings)."""

from __future__ import annotations

from pathlib import Path

from test_settings import schema_defaults

from gtalker.talker.__main__ import build_parser


def train_flags() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    return {opt for action in sub._actions for opt in action.option_strings}


def test_every_talker_key_is_a_train_flag() -> None:
    flags = train_flags()
    for key in schema_defaults("talker"):
        assert "--" + key.replace("_", "-") in flags, key


def test_dry_run_plans_the_talker_and_render_jobs(tmp_path: Path) -> None:
    from conftest import planned_rules, snakemake

    proc = snakemake(tmp_path, targets=None, extra=["-n"])
    jobs = planned_rules(proc)
    for rule in ("train_talker", "render_val", "render_custom", "render_attention", "make_demo_speech",
                 "custom_audio_features"):
        assert jobs.get(rule) == 1, (rule, jobs)


def test_a_variant_with_a_bad_talker_key_is_named(tmp_path: Path) -> None:
    from conftest import snakemake

    proc = snakemake(tmp_path, config={"variants": {"base": {}, "odd": {"talker": {"tokens": ["pitch"]}}}},
                     extra=["-n"], check=False)
    assert proc.returncode != 0
    assert "variants.odd.talker.tokens" in proc.stdout + proc.stderr


def test_missing_custom_audio_is_named(tmp_path: Path) -> None:
    from conftest import snakemake

    proc = snakemake(tmp_path, config={"render": {"custom_audio": {"talk": "nowhere/talk.mp3"}}},
                     extra=["-n"], check=False)
    assert proc.returncode != 0
    assert "render.custom_audio.talk" in proc.stdout + proc.stderr
