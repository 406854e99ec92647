"""Settings dataclasses as command-line flags, and config sections as flag strings: one convention.

Each stage keeps its settings (and their defaults) in one dataclass whose field names are the keys of its
config section (nested keys joined by '_': `lr: {means: ...}` is field `lr_means`). `add_flags` makes one
flag per field (`--lr-means`), `from_args` reads them back, and `flag_string` (which the Snakemake rules
call on the config section) writes the same flags from the config. Lists are comma-separated, booleans
true/false. A setting is thus added in the schema and the dataclass only.

Standard library only: the workflow imports it without the steps' dependencies.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import typing
from typing import Any, Callable, Iterable, Mapping


def parse_bool(text: str) -> bool:
    """'true'/'false' (also 1/0, yes/no, on/off) -> bool."""
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got '{text}'")


def list_parser(kind: Callable[[str], Any], container: type = tuple) -> Callable[[str], Any]:
    """A parser of comma-separated items of `kind` (empty items dropped)."""

    def parse(text: str) -> Any:
        return container(kind(t.strip()) for t in text.split(",") if t.strip())

    return parse


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return f.default


def _parser_for(hint: Any, default: Any) -> Callable[[str], Any]:
    """The argparse `type` of a field from its annotation (its default's type where that is vague)."""
    origin = typing.get_origin(hint)
    if hint is bool:
        return parse_bool
    if origin in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return list_parser(args[0] if args else str, list if origin is list else tuple)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _parser_for(args[0], default) if len(args) == 1 else str
    if isinstance(hint, type):
        return hint
    return type(default) if default is not None else str


def defaults(cls: Any) -> dict[str, Any]:
    """Field name -> default value of a settings dataclass."""
    return {f.name: _field_default(f) for f in dataclasses.fields(cls)}


def add_flags(ap: argparse.ArgumentParser, cls: Any, skip: Iterable[str] = ()) -> None:
    """One flag per field of dataclass `cls` (underscores become dashes), defaulting to the field's."""
    hints = typing.get_type_hints(cls)
    skip = set(skip)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = _field_default(f)
        ap.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=_parser_for(hints[f.name], default),
                        default=default, help=f"(default: {format_value(default)})")


def from_args(args: argparse.Namespace | Mapping[str, Any], cls: Any, skip: Iterable[str] = ()) -> Any:
    """An instance of `cls` from parsed flags (fields in `skip` keep their defaults)."""
    values = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    skip = set(skip)
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name not in skip})


def flatten(section: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'lr': {'means': 1}} -> {'lr_means': 1}: config keys as field names."""
    out: dict[str, Any] = {}
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}_"))
        else:
            out[name] = value
    return out


def format_value(value: Any) -> str:
    """A value as its flag text: lists comma-separated, booleans true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)


def flag_string(section: Mapping[str, Any], skip: Iterable[str] = ()) -> str:
    """The flags of a config section (nested keys flattened; keys in `skip`, whole or flattened, and None
    values left out), sorted, shell-quoted: what a rule passes to its step's CLI."""
    skip = set(skip)
    flags = []
    kept = {k: v for k, v in section.items() if k not in skip}
    for key, value in sorted(flatten(kept).items()):
        if key in skip or value is None:
            continue
        flags.append(f"--{key.replace('_', '-')} {shlex.quote(format_value(value))}")
    return " ".join(flags)
