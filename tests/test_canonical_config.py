"""The `canonical:` config schema and the CLI agree: same keys, same defaults, flags that parse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from gtalker.canonical.__main__ import build_parser
from gtalker.canonical.train import CanonicalConfig

REPO = Path(__file__).resolve().parents[1]


def schema_defaults() -> dict:
    props = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["canonical"]
    flat = {}
    for key, sub in props["properties"].items():
        if sub.get("type") == "object":
            assert sub.get("additionalProperties") is False, key
            for k2, v2 in sub["properties"].items():
                flat[f"{key}_{k2}"] = v2["default"]
        else:
            flat[key] = sub["default"]
    return flat


def test_schema_defaults_equal_cli_defaults():
    fields = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
              for f in dataclasses.fields(CanonicalConfig)}
    assert schema_defaults() == fields


def test_config_yaml_values_parse_as_flags():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["canonical"]
    argv = ["--dataset-dir", "d", "--points", "p", "--head", "h", "--ply", "g", "--log", "l"]
    for key, value in cfg.items():
        assert not isinstance(value, dict), "nested keys are flattened by the rule; keep config.yaml flat here"
        text = str(value).lower() if isinstance(value, bool) else str(value)
        argv += [f"--{key.replace('_', '-')}", text]
    args = vars(build_parser().parse_args(argv))
    for key, value in cfg.items():
        assert args[key] == value, key
