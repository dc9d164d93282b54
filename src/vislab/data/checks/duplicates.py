"""Exact and near duplicates, within a split and across splits (a leak: the same picture trains and is
measured).

Exact: the same decoded pixels. Near: a perceptual hash within ``CANDIDATE`` bits proposes the pair, and the
correlation of the two 16x16 gray thumbnails, at least ``NEAR``, decides it. The hash alone cannot: on
scikit-learn's digits (8x8 images, enlarged) genuinely different digits lie 2 bits apart while JPEG copies
resized by a pixel lie 0 to 2 bits from their originals; their thumbnails correlate at most 0.9953 between
different digits and at least 0.9997 between a copy and its original.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .images import Facts

CANDIDATE = 10  # perceptual-hash bits (of 64) within which a pair is looked at
NEAR = 0.998  # thumbnail correlation from which a looked-at pair is a near duplicate
ORDER = {"train": 0, "val": 1, "test": 2}
CHUNK = 2048  # rows of the hash-distance matrix at a time (CHUNK x N uint64 in memory)


@dataclass(frozen=True)
class Pair:
    """Two images that are one: ``kind`` 'exact' or 'near', each side (split, name), the training side first,
    ``similarity`` the thumbnails' correlation (1.0 for exact copies)."""

    kind: str
    first: tuple[str, str]
    second: tuple[str, str]
    similarity: float

    @property
    def across(self) -> bool:
        return self.first[0] != self.second[0]


def duplicate_pairs(found: list[tuple[str, str, Facts]]) -> list[Pair]:
    """Every exact and near pair among ``found`` (split, name, facts): leaks across splits first."""
    pairs = exact_pairs(found)
    exact = {(p.first, p.second) for p in pairs}
    pairs += [p for p in near_pairs(found) if (p.first, p.second) not in exact]
    return sorted(pairs, key=lambda p: (not p.across, p.kind != "exact", ORDER[p.first[0]], ORDER[p.second[0]], p.first[1]))


def _ordered(a: tuple[str, str], b: tuple[str, str]) -> tuple[tuple[str, str], tuple[str, str]]:
    return (a, b) if (ORDER[a[0]], a[1]) <= (ORDER[b[0]], b[1]) else (b, a)


def exact_pairs(found: list[tuple[str, str, Facts]]) -> list[Pair]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for split, name, f in found:
        groups.setdefault(f.pixels, []).append((split, name))
    return [Pair("exact", *_ordered(a, b), 1.0)
            for members in groups.values() for i, a in enumerate(members) for b in members[i + 1:]]


def near_pairs(found: list[tuple[str, str, Facts]]) -> list[Pair]:
    if len(found) < 2:
        return []
    hashes = np.array([f.phash for _, _, f in found], dtype=np.uint64)
    thumbs = np.stack([f.thumb for _, _, f in found])
    out = []
    for start in range(0, len(found), CHUNK):
        rows = hashes[start:start + CHUNK]
        bits = np.bitwise_count(rows[:, None] ^ hashes[None, :])
        i, j = np.nonzero(bits <= CANDIDATE)
        i = i + start
        keep = j > i
        i, j = i[keep], j[keep]
        similarity = np.einsum("kd,kd->k", thumbs[i], thumbs[j])
        for a, b, s in zip(i[similarity >= NEAR], j[similarity >= NEAR], similarity[similarity >= NEAR]):
            first, second = _ordered(found[a][:2], found[b][:2])
            out.append(Pair("near", first, second, float(s)))
    return out
