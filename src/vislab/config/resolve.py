"""Resolving a config in three layers: the schema's defaults, a recipe (a packaged name or a YAML file,
holding only what differs from the defaults, optionally ``extends:`` another recipe), then dotted
``key=value`` overrides whose values are parsed as YAML. Every key is checked against the schema:
an unknown key names its closest matches, a wrong type names the key, the value and the type expected.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from ..errors import VislabError
from .schema import SEMISUP_READS, Config, all_keys, check_values, field_types, is_section, section_class
from .yaml_io import read_yaml, yaml_load

RECIPES_DIR = Path(__file__).parent.parent / "recipes"


# ----------------------------------------------------------------------------------------------
# Types: check and coerce a value against an annotation
# ----------------------------------------------------------------------------------------------


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        k, v = typing.get_args(tp)
        return f"a map of {_describe(k)} to {_describe(v)}"
    if is_dataclass(tp):
        return "a mapping of " + ", ".join(f.name for f in fields(tp))
    return {bool: "a boolean", int: "an int", float: "a float", str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


class _Mismatch(Exception):
    pass


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Return ``value`` as type ``tp`` or raise: VislabError for unknown keys, _Mismatch for wrong types."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin in (Union, types.UnionType):
        # None first, then exact-type members, so 3 stays an int in Union[int, list[int]].
        for member in sorted(typing.get_args(tp), key=lambda m: m is not type(None)):
            try:
                return _coerce(value, member, key)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        for choice in typing.get_args(tp):
            if value == choice and type(value) is type(choice):
                return choice
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _Mismatch
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        k_tp, v_tp = typing.get_args(tp)
        return {_coerce(k, k_tp, key): _coerce(v, v_tp, f"{key}.{k}") for k, v in value.items()}
    if is_dataclass(tp):
        if is_dataclass(value):
            value = dataclasses.asdict(value)
        if not isinstance(value, dict):
            raise _Mismatch
        return _build(tp, value, key)
    raise TypeError(f"unsupported annotation {tp!r} for {key}")


def _build(cls: type, values: dict, prefix: str) -> Any:
    """Build dataclass ``cls`` from a (partial) mapping, defaults filling the rest."""
    hints = field_types(cls)
    kwargs = {}
    for k, v in values.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in hints:
            raise _unknown_key(key)
        try:
            kwargs[k] = _coerce(v, hints[k], key)
        except _Mismatch:
            raise VislabError(
                f"config key '{key}': expected {_describe(hints[k])}, got {v!r} ({_type_name(v)})"
            ) from None
    return cls(**kwargs)


def _type_name(v: Any) -> str:
    return {bool: "boolean", int: "int", float: "float", str: "string", list: "list", dict: "mapping"}.get(
        type(v), type(v).__name__
    )


def check_key(key: str) -> None:
    """Bad input unless dotted ``key`` is a key of the schema; the message suggests close matches."""
    if key not in all_keys():
        raise _unknown_key(key)


def _unknown_key(key: str) -> VislabError:
    leaves = [k for k in all_keys() if not is_section(k)]
    scored = sorted(((difflib.SequenceMatcher(None, key, k).ratio(), k) for k in leaves), reverse=True)
    close = [k for r, k in scored[:3] if r >= max(0.6, scored[0][0] - 0.08)]
    if not close:
        leaf = key.rsplit(".", 1)[-1]
        close = [k for k in leaves if k.rsplit(".", 1)[-1] == leaf][:3]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return VislabError(f"unknown config key '{key}'{hint} (`vislab recipes NAME` lists every key)")


# ----------------------------------------------------------------------------------------------
# Layering: defaults <- recipe <- overrides
# ----------------------------------------------------------------------------------------------


def _set(tree: dict, key: str, value: Any) -> None:
    """Set dotted ``key`` in the nested mapping ``tree``, walking only through dataclass sections."""
    parts = key.split(".")
    cls: Any = Config
    node = tree
    for i, part in enumerate(parts):
        hints = field_types(cls)
        if part not in hints:
            raise _unknown_key(".".join(parts[: i + 1]) if i < len(parts) - 1 else key)
        if i == len(parts) - 1:
            if value is _ENSURE:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
            else:
                node[part] = copy.deepcopy(value)
            return
        sub = section_class(hints[part])
        if sub is None:
            raise VislabError(f"config key '{'.'.join(parts[: i + 1])}' has no sub-keys; set it whole")
        if not isinstance(node.get(part), dict):
            node[part] = {}  # a switched-off section (null) comes back with its defaults
        node, cls = node[part], sub


_ENSURE = object()  # marks a section named in a recipe with no keys: switch it on with its defaults


def _flatten_recipe(values: Any, prefix: str = "", cls: Any = Config) -> list[tuple[str, Any]]:
    """A recipe mapping as (dotted key, value) pairs, descending into sections (so they merge)."""
    if not isinstance(values, dict):
        raise VislabError(f"recipe section '{prefix or 'top level'}' must be a mapping, got {values!r}")
    hints = field_types(cls)
    pairs: list[tuple[str, Any]] = []
    for k, v in values.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in hints:
            raise _unknown_key(key)
        sub = section_class(hints[k])
        if sub is not None and isinstance(v, dict):
            pairs.extend(_flatten_recipe(v, key, sub) if v else [(key, _ENSURE)])
        else:
            pairs.append((key, v))
    return pairs


def recipe_names() -> list[str]:
    """Names of the packaged recipes."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def load_recipe(recipe: str | Path, _seen: tuple = ()) -> dict:
    """The recipe's mapping with ``extends`` resolved (base first), and ``recipe`` set to its name."""
    path = Path(recipe).expanduser()
    if str(recipe).endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise VislabError(f"recipe file {path} does not exist")
        values = read_yaml(path) or {}
        default_name = path.stem
    else:
        path = RECIPES_DIR / f"{recipe}.yaml"
        if not path.is_file():
            close = difflib.get_close_matches(str(recipe), recipe_names(), n=3, cutoff=0.5)
            names = recipe_names()
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            known = f"{hint}`vislab recipes` lists all {len(names)}"  # too many to name in one line
            raise VislabError(f"unknown recipe '{recipe}': {known}, or give a path to a YAML file")
        values = read_yaml(path) or {}
        default_name = str(recipe)
    if not isinstance(values, dict):
        raise VislabError(f"recipe {path} must be a mapping of sections, got {type(values).__name__}")
    values = dict(values)
    base = values.pop("extends", None)
    if base is not None:
        base = base_of(path, str(base))
        if base in _seen:
            raise VislabError(f"recipe {path}: 'extends' loops through {base}")
        merged = load_recipe(base, _seen + (base,))
        merged.pop("description", None)
        merged.pop("recipe", None)  # the run directory is named after this recipe, not its base
        for key, value in _flatten_recipe(values):
            _set(merged, key, value)
        values = merged
    values.setdefault("recipe", default_name)
    return values


def base_of(path: Path, base: str) -> str:
    """What ``extends: base`` in the recipe at ``path`` names: a file beside that recipe (a relative path is
    read from the recipe's own folder, not the current one), else a packaged recipe."""
    if path.parent == RECIPES_DIR:
        return base
    beside = path.parent / Path(base).expanduser()
    if base.endswith((".yaml", ".yml")) or beside.is_file():
        return str(beside)
    return base


def parse_override(text: str) -> tuple[str, Any]:
    """``'optim.lr=1e-3'`` -> ``('optim.lr', 0.001)``; the value is parsed as YAML."""
    if "=" not in text:
        raise VislabError(f"override '{text}' is not key=value (e.g. optim.lr=1e-3)")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise VislabError(f"override '{text}': the value is not valid YAML (quote it)") from None
    return key, value


def resolve(recipe: str | Path | dict, overrides: dict[str, Any] | None = None) -> Config:
    """The full config: defaults, then the recipe, then dotted overrides (already-parsed values); an override
    of ``semisup.method`` drops the recipe's ``semisup.*`` keys that the chosen method does not read."""
    tree = dataclasses.asdict(Config())
    values = recipe if isinstance(recipe, dict) else load_recipe(recipe)
    # `semisup.method=none` on a semi-supervised recipe means "the same recipe, supervised" (its baseline in a
    # sweep), and `semisup.method=mean_teacher` on a FixMatch recipe that recipe with Mean Teacher: the recipe's
    # settings for its own method are dropped rather than refused as doing nothing; a semisup key the user
    # sets that the method does not read still is refused.
    method = (overrides or {}).get("semisup.method")
    if method is not None:
        kept = {f"semisup.{k}" for k in SEMISUP_READS.get(method, set())} | {"semisup.method"}
    for key, value in _flatten_recipe(values):
        if method is None or not key.startswith("semisup.") or key in kept:
            _set(tree, key, value)
    for key, value in (overrides or {}).items():
        _set(tree, key, value)
    cfg = _build(Config, tree, "")
    if cfg.data.test_domain is not None:
        # Naming a held-out domain only means something under leave-one-domain-out, so it selects that
        # protocol: `vislab sweep officehome-mixstyle data.test_domain=Art,Clipart,...` gives the usual table.
        cfg.data.protocol = "lodo"
    check_values(cfg)
    return cfg
