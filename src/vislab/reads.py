"""Every key means something: builders declare the config keys they read, and a key set away from its default
that the chosen dataset, model or task does not read is bad input, named with what it does not apply to.

Torch-free: the declarations are plain tuples of key names beside each builder.
"""

from __future__ import annotations

from dataclasses import asdict, fields, is_dataclass
from typing import Any, Iterable

from .errors import VislabError


def unread(section: Any, reads: Iterable[str]) -> list[str]:
    """Keys of the config dataclass ``section`` set away from their defaults and not among ``reads``
    (names within the section; naming a sub-section covers all of its keys, ``sub.key`` only that one)."""
    defaults = type(section)()
    known = set(reads)
    keys = []
    for f in fields(section):
        value = getattr(section, f.name)
        if f.name in known or value == getattr(defaults, f.name):
            continue
        inner = [r.split(".", 1)[1] for r in known if r.startswith(f.name + ".")]
        default = getattr(defaults, f.name)
        if is_dataclass(value) and is_dataclass(default):  # name the keys within it that were set
            keys += [f"{f.name}.{k}" for k in unread(value, inner)]
        else:
            keys.append(f.name)
    return keys


def plain(value: Any) -> Any:
    """A config value as YAML can write it (a section as its mapping)."""
    return asdict(value) if is_dataclass(value) else value


def default_of(section: Any, key: str) -> Any:
    """The default of dotted ``key`` within the config dataclass ``section``."""
    value = type(section)()
    for part in key.split("."):
        value = getattr(value, part)
    return value


def check_reads(section: Any, prefix: str, reads: Iterable[str], what: str) -> None:
    """Bad input naming every key of ``section`` (config section ``prefix``) that ``what`` does not read, with
    the overrides that put them back to their defaults (a recipe's keys for another family, say)."""
    keys = unread(section, reads)
    if keys:
        from .config import yaml_dump

        reset = " ".join(f"{prefix}.{k}={yaml_dump(plain(default_of(section, k)))}" for k in keys)
        names = ", ".join(f"{prefix}.{k}" for k in keys)
        raise VislabError(f"config key{'s' if len(keys) > 1 else ''} {names} do{'' if len(keys) > 1 else 'es'} nothing for {what}; "
                          f"remove {'them' if len(keys) > 1 else 'it'} or set {reset}")
