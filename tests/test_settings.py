"""One source per default: every config section's schema defaults equal its settings dataclasses' defaults,
every setting is a schema key, and the flag strings the rules build parse back through the CLIs' flags."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
import yaml

from gtalker.settings import add_flags, defaults, flag_string, flatten, from_args

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def schema_defaults(section: str) -> dict:
    """Defaults of a schema section (dotted path), nested objects flattened with '_'."""
    node = SCHEMA
    for part in section.split("."):
        node = node["properties"][part]

    def walk(props: dict, prefix: str = "") -> dict:
        out = {}
        for key, sub in props.items():
            if sub.get("type") == "object" and "properties" in sub:
                out.update(walk(sub["properties"], f"{prefix}{key}_"))
            else:
                out[f"{prefix}{key}"] = sub.get("default")
        return out

    return walk(node["properties"])


def sections() -> dict[str, tuple[list[tuple[type, tuple[str, ...]]], tuple[str, ...]]]:
    """Config section -> ([(settings dataclass, fields that are not config keys)], keys no dataclass holds
    because only the workflow uses them or another rule's CLI takes them)."""
    from gtalker.audio.features import FeatureConfig
    from gtalker.audio.mel import MelConfig
    from gtalker.canonical.train import CanonicalConfig
    from gtalker.demo import DemoConfig
    from gtalker.face.background import BackgroundConfig
    from gtalker.face.blinks import BlinkConfig
    from gtalker.face.heuristic import HeuristicConfig
    from gtalker.face.landmarks import LandmarkConfig
    from gtalker.face.parsing import BisenetConfig
    from gtalker.face.split import SplitConfig
    from gtalker.face.torso import TorsoConfig
    from gtalker.fit.rigid import RigidConfig
    from gtalker.fit.tracker import FitConfig
    from gtalker.fit.trainable import TrainableConfig
    from gtalker.ingest import PreprocessConfig
    from gtalker.metrics.evaluate import EvaluateConfig
    from gtalker.render.__main__ import RenderConfig
    from gtalker.talker.deform import DeformConfig
    from gtalker.talker.measure import ProbeConfig
    from gtalker.talker.train import TrainConfig

    return {
        "demo": ([(DemoConfig, ())], ()),
        "preprocess": ([(PreprocessConfig, ())], ()),
        "landmarks": ([(LandmarkConfig, ())], ()),
        "parsing.heuristic": ([(HeuristicConfig, ())], ()),
        "parsing.bisenet": ([(BisenetConfig, ())], ()),
        "background": ([(BackgroundConfig, ())], ()),
        "torso": ([(TorsoConfig, ())], ()),
        "blinks": ([(BlinkConfig, ())], ()),
        "split": ([(SplitConfig, ())], ()),
        "audio_features": ([(MelConfig, ()), (FeatureConfig, ("mel", "device", "threads"))], ()),
        "trainable": ([(TrainableConfig, ())], ()),
        "fit": ([(FitConfig, ())], ("model", "bfm_dir", "bfm_n_identity", "bfm_n_expression", "n_points", "seed")),
        "landmark_cameras": ([(RigidConfig, ())], ()),
        "canonical": ([(CanonicalConfig, ())], ("cameras",)),
        "talker": ([(DeformConfig, ("audio_channels", "feature_dim")), (TrainConfig, ())], ()),
        "render": ([(RenderConfig, ())], ("custom_audio", "demo_speech_length", "demo_speech_seed")),
        "evaluate": ([(EvaluateConfig, ("device", "per_frame"))], ("fetch_weights",)),
        "ablation": ([(ProbeConfig, ())], ("variants",)),
    }


@pytest.mark.parametrize("section", list(sections()))
def test_schema_defaults_equal_the_settings_dataclasses(section: str) -> None:
    classes, workflow_only = sections()[section]
    code: dict = {}
    for cls, not_keys in classes:
        code.update({k: v for k, v in defaults(cls).items() if k not in not_keys})
    schema = schema_defaults(section)
    assert sorted(set(code) - set(schema)) == [], f"{section}: settings without a schema key"
    assert sorted(set(schema) - set(code) - set(workflow_only)) == [], f"{section}: schema keys no code reads"
    normalise = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    diff = {k: (schema[k], code[k]) for k in code if normalise(schema[k]) != normalise(code[k])}
    assert diff == {}, f"{section}: schema default vs code default differ"


def test_every_top_level_section_is_covered() -> None:
    covered = {s.split(".")[0] for s in sections()}
    workflow_only = {"device", "datasets", "variants", "refdata"}
    assert set(SCHEMA["properties"]) - covered == workflow_only


@dataclasses.dataclass
class Example:
    count: int = 3
    rate: float = 0.5
    name: str = "a b"
    on: bool = True
    sizes: list[int] = dataclasses.field(default_factory=lambda: [64, 128])
    tokens: tuple[str, ...] = ("audio", "eye")
    limit: int | None = None


def test_flag_string_parses_back_through_add_flags() -> None:
    ap = argparse.ArgumentParser()
    add_flags(ap, Example)
    assert from_args(ap.parse_args([]), Example) == Example()
    section = {"count": 7, "rate": 2, "name": "x y'z", "on": False, "sizes": [32], "tokens": ["view"],
               "limit": 4}
    import shlex

    got = from_args(ap.parse_args(shlex.split(flag_string(section))), Example)
    assert got == Example(count=7, rate=2.0, name="x y'z", on=False, sizes=[32], tokens=("view",), limit=4)
    assert flag_string({"limit": None, "count": 1}) == "--count 1"  # None: the step's default


def test_nested_sections_flatten_and_skip_whole_or_flat_keys() -> None:
    assert flatten({"lr": {"means": 1, "mlp": 2}, "x": 0}) == {"lr_means": 1, "lr_mlp": 2, "x": 0}
    assert flag_string({"lr": {"means": 1, "mlp": 2}, "files": {"a": "p"}}, skip=("files", "lr_mlp")) == "--lr-means 1"


def test_rule_flag_strings_parse_through_the_step_clis() -> None:
    """The default config's flags for the landmark, fit, canonical and talker steps give their defaults."""
    import shlex

    from gtalker.canonical.__main__ import build_parser as canonical_parser
    from gtalker.canonical.train import CanonicalConfig
    from gtalker.fit.__main__ import build_parser as fit_parser
    from gtalker.fit.tracker import FitConfig
    from gtalker.talker.__main__ import build_parser as talker_parser
    from gtalker.talker.train import TrainConfig

    cfg = {s: schema_defaults(s) for s in ("fit", "canonical", "talker")}
    fit_flags = flag_string(cfg["fit"], skip=sections()["fit"][1])
    args = fit_parser().parse_args(["track", "--landmarks", "l", "--frames-json", "f", "--model", "m", "--out", "o",
                                    *shlex.split(fit_flags)])
    assert from_args(args, FitConfig) == FitConfig()
    args = canonical_parser().parse_args(["--dataset-dir", "d", "--points", "p", "--head", "h", "--ply", "g",
                                          "--log", "l", *shlex.split(flag_string(cfg["canonical"], skip=sections()["canonical"][1]))])
    assert from_args(args, CanonicalConfig) == CanonicalConfig()
    args = talker_parser().parse_args(["train", "--dataset-dir", "d", "--head", "h", "--features", "f", "--split",
                                       "s", "--out-model", "m", "--out-log", "l",
                                       *shlex.split(flag_string(cfg["talker"]))])
    assert from_args(args, TrainConfig) == TrainConfig()
