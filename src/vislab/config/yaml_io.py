"""YAML in and out: safe loading (``1e-3`` read as a float), flow-style values, and the resolved config
written with a comment on every key."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from ..atomic import atomic_write_text
from ..errors import VislabError
from .schema import Config


# ----------------------------------------------------------------------------------------------
# YAML: safe loading, with 1e-3 read as a float (YAML 1.1 would read it as a string)
# ----------------------------------------------------------------------------------------------


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser where PyYAML has it: ~4x faster
    pass


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    """Parse YAML with the safe loader (no object construction), reading ``1e-3`` as a float."""
    return yaml.load(text, Loader=_Loader)


class _Dumper(yaml.SafeDumper):
    yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers  # so it quotes the string '1e-3'


def yaml_dump(value: Any) -> str:
    """One value as flow-style YAML text that ``yaml_load`` reads back as the same value."""
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def read_yaml(path: Path) -> Any:
    """Read a YAML file; a missing or malformed file is bad input."""
    try:
        return yaml_load(Path(path).read_text())
    except OSError as e:
        raise VislabError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise VislabError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None


# ----------------------------------------------------------------------------------------------
# Printing: the resolved config with a comment on every key
# ----------------------------------------------------------------------------------------------


def _inline(value: Any) -> str:
    if is_dataclass(value):
        value = dataclasses.asdict(value)
    elif isinstance(value, list):
        value = [dataclasses.asdict(v) if is_dataclass(v) else v for v in value]  # data.repeat: a list of sections
    return yaml_dump(value)


def dump_commented(cfg: Any) -> str:
    """YAML text of ``cfg`` with each key's help as a trailing comment; loadable as a recipe."""
    lines: list[str] = []

    def walk(obj: Any, indent: int) -> None:
        pad = "  " * indent
        for f in fields(obj):
            value = getattr(obj, f.name)
            help_ = f.metadata.get("help", "")
            if is_dataclass(value):
                lines.append(f"{pad}{f.name}:  # {help_}")
                walk(value, indent + 1)
            else:
                lines.append(f"{pad}{f.name}: {_inline(value)}  # {help_}")

    walk(cfg, 0)
    return "\n".join(lines) + "\n"


def save(cfg: Config, path: Path) -> None:
    """Write the resolved config as commented YAML that `vislab train PATH` repeats."""
    atomic_write_text(Path(path), dump_commented(cfg))  # a kill mid-write must not cost a run its config
