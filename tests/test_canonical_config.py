"""The `canonical:` values of config.yaml parse as CLI flags (schema defaults: test_settings)."""

from __future__ import annotations

from pathlib import Path

import yaml

from gtalker.canonical.__main__ import build_parser

REPO = Path(__file__).resolve().parents[1]
# canonical settings that select the stage's inputs and are no flag (workflow/rules/landmark_cameras_functions.smk)
INPUT_KEYS = ("cameras",)


def test_config_yaml_values_parse_as_flags():
    cfg = {k: v for k, v in yaml.safe_load((REPO / "config.yaml").read_text())["canonical"].items()
           if k not in INPUT_KEYS}
    argv = ["--dataset-dir", "d", "--points", "p", "--head", "h", "--ply", "g", "--log", "l"]
    for key, value in cfg.items():
        assert not isinstance(value, dict), "nested keys are flattened by the rule; keep config.yaml flat here"
        text = str(value).lower() if isinstance(value, bool) else str(value)
        argv += [f"--{key.replace('_', '-')}", text]
    args = vars(build_parser().parse_args(argv))
    for key, value in cfg.items():
        assert args[key] == value, key
