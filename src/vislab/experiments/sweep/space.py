"""What a sweep varies: grid values (``key=a,b,c``), seeds, and search ranges (``key=loguniform(1e-4,1e-2)``).

On the command line a value with top-level commas is a list of grid values, each parsed as YAML;
commas inside brackets, braces or quotes do not split, so ``aug.resize=[256,256]`` and
``'data.mask_values={0: 0, 255: 1}'`` stay single values. A search range is one of
``loguniform(a,b)``, ``uniform(a,b)``, ``int(a,b)`` or ``choice(a,b,...)``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Union

from ...config import parse_override, yaml_dump, yaml_load
from ...errors import VislabError

RANGE = re.compile(r"^\s*(loguniform|uniform|int|choice)\s*\((.*)\)\s*$", re.S)
SEED = "train.seed"
FOLD = "data.fold"  # the key a cross-validation sweeps (experiments.crossval); compare counts it as a repeat, like the seed


@dataclass(frozen=True)
class Choice:
    """Categorical values (a grid dimension, or ``choice(...)`` in a search)."""

    values: tuple


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int


Param = Union[Choice, FloatRange, IntRange]


def split_values(text: str) -> list[str]:
    """``'adam,sgd'`` -> ``['adam', 'sgd']``; commas inside ``[]``, ``{}``, ``()`` or quotes do not split."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_yaml_value(key: str, text: str) -> Any:
    """One value as the CLI reads it (YAML), with the error naming the key."""
    return parse_override(f"{key}={text}")[1]


def parse_range(key: str, text: str) -> Param:
    """``'loguniform(1e-4,1e-2)'`` -> ``FloatRange(0.0001, 0.01, log=True)``."""
    match = RANGE.match(text)
    if match is None:
        raise VislabError(f"{key}={text}: a range is loguniform(a,b), uniform(a,b), int(a,b) or choice(a,b,...)")
    kind, inner = match.groups()
    args = [parse_yaml_value(key, part) for part in split_values(inner)]
    if kind == "choice":
        if len(args) < 2:
            raise VislabError(f"{key}={text}: choice needs at least two values")
        return Choice(tuple(args))
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise VislabError(f"{key}={text}: {kind} takes two numbers, low and high")
    low, high = args
    if not low < high:
        raise VislabError(f"{key}={text}: low must be below high")
    if kind == "int":
        if not (isinstance(low, int) and isinstance(high, int)):
            raise VislabError(f"{key}={text}: int(a,b) takes two integers")
        return IntRange(low, high)
    if kind == "loguniform" and low <= 0:
        raise VislabError(f"{key}={text}: loguniform needs a positive low end")
    return FloatRange(float(low), float(high), log=kind == "loguniform")


def parse_items(items: list[str]) -> tuple[dict[str, Any], dict[str, list], dict[str, Param]]:
    """CLI ``key=value`` items -> (fixed overrides, grid values, search ranges)."""
    fixed: dict[str, Any] = {}
    grid: dict[str, list] = {}
    ranges: dict[str, Param] = {}
    for item in items:
        if "=" not in item:
            raise VislabError(f"'{item}' is not key=value; the recipe comes first (vislab sweep RECIPE key=v1,v2 ...)")
        key, text = (s.strip() for s in item.split("=", 1))
        if RANGE.match(text):
            ranges[key] = parse_range(key, text)
            continue
        values = split_values(text)
        if len(values) > 1:
            grid[key] = [parse_yaml_value(key, v) for v in values]
        else:
            fixed[key] = parse_yaml_value(key, text)
    return fixed, grid, ranges


# ----------------------------------------------------------------------------------------------
# Values as Optuna stores them: categorical choices must be None, bool, int, float or str
# ----------------------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A config value as an Optuna choice: scalars as they are, anything else as its YAML text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = yaml_dump(value)
    return value if text == value else text  # a string that reads back as itself stays plain


def decode(value: Any) -> Any:
    """The inverse of ``encode``."""
    return yaml_load(value) if isinstance(value, str) else value


# ----------------------------------------------------------------------------------------------
# The space: what a trial suggests
# ----------------------------------------------------------------------------------------------


@dataclass
class Space:
    """The sweep's parameters, by dotted config key, in the order trials vary them."""

    params: dict[str, Param]

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of the choices (encoded), seeds varying slowest so partial sweeps stay balanced."""
        keys = sorted(self.params, key=lambda k: k != SEED)
        choices = [[encode(v) for v in self.params[k].values] for k in keys]
        return [dict(zip(keys, combo)) for combo in itertools.product(*choices)]

    def check_distinct(self) -> None:
        """Values equal once parsed (``1e-3,0.001``) are one point, which a grid cannot list twice: bad input."""
        for key, p in self.params.items():
            if isinstance(p, Choice):
                seen = [encode(v) for v in p.values]
                twice = next((v for i, v in enumerate(seen) if v in seen[:i]), None)
                if twice is not None:
                    raise VislabError(f"{key} lists {_short(twice)} twice (values equal once parsed); give each value once")

    def grid_space(self) -> dict[str, list]:
        """The grid as Optuna's GridSampler takes it."""
        return {k: [encode(v) for v in p.values] for k, p in self.params.items()}

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The trial's values (queued or sampled) as config overrides."""
        values = {}
        for key, p in self.params.items():
            if isinstance(p, Choice):
                values[key] = decode(trial.suggest_categorical(key, [encode(v) for v in p.values]))
            elif isinstance(p, FloatRange):
                values[key] = trial.suggest_float(key, p.low, p.high, log=p.log)
            else:
                values[key] = trial.suggest_int(key, p.low, p.high)
        return values

    def values(self, params: dict[str, Any]) -> dict[str, Any]:
        """A recorded trial's values (as Optuna stores them) as config overrides, in this space's order."""
        return {k: decode(params[k]) if isinstance(p, Choice) else params[k] for k, p in self.params.items() if k in params}

    def examples(self) -> list[dict[str, Any]]:
        """Override sets that reach every choice and both ends of every range (to validate before training)."""
        if not self.params:
            return [{}]
        widest = max(len(p.values) if isinstance(p, Choice) else 2 for p in self.params.values())
        return [{k: _nth(p, i) for k, p in self.params.items()} for i in range(widest)]

    def to_spec(self) -> dict[str, Any]:
        """JSON-ready description, stored with the study."""
        out = {}
        for key, p in self.params.items():
            if isinstance(p, Choice):
                out[key] = {"choice": [encode(v) for v in p.values]}
            elif isinstance(p, FloatRange):
                out[key] = {"loguniform" if p.log else "uniform": [p.low, p.high]}
            else:
                out[key] = {"int": [p.low, p.high]}
        return out

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Space":
        params: dict[str, Param] = {}
        for key, desc in spec.items():
            (kind, args), = desc.items()
            if kind == "choice":
                params[key] = Choice(tuple(decode(v) for v in args))
            elif kind == "int":
                params[key] = IntRange(*args)
            else:
                params[key] = FloatRange(*args, log=kind == "loguniform")
        return cls(params)


def _nth(p: Param, i: int) -> Any:
    if isinstance(p, Choice):
        return p.values[i % len(p.values)]
    return (p.low, p.high)[i % 2]


def describe(values: dict[str, Any]) -> str:
    """``{'optim.name': 'sgd', 'train.seed': 1}`` -> ``'optim.name=sgd train.seed=1'``."""
    return " ".join(f"{k}={_short(v)}" for k, v in values.items())


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(encode(v))
