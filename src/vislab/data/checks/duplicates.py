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
CHUNK = 256  # rows compared with all later images at a time (CHUNK x N hash distances and correlations in memory)


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
    pixels = {(split, name): f.pixels for split, name, f in found}
    pairs = exact_pairs(found) + [p for p in near_pairs(found) if pixels[p.first] != pixels[p.second]]
    return sorted(pairs, key=lambda p: (not p.across, p.kind != "exact", ORDER[p.first[0]], ORDER[p.second[0]], p.first[1]))


def _ordered(a: tuple[str, str], b: tuple[str, str]) -> tuple[tuple[str, str], tuple[str, str]]:
    return (a, b) if (ORDER[a[0]], a[1]) <= (ORDER[b[0]], b[1]) else (b, a)


def exact_pairs(found: list[tuple[str, str, Facts]]) -> list[Pair]:
    """Each copy paired with the first of its group (training first): n - 1 pairs for n copies, not n^2 / 2."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for split, name, f in found:
        groups.setdefault(f.pixels, []).append((split, name))
    out = []
    for members in groups.values():
        first, *rest = sorted(members, key=lambda m: (ORDER[m[0]], m[1]))
        out += [Pair("exact", first, other, 1.0) for other in rest]
    return out


def near_pairs(found: list[tuple[str, str, Facts]]) -> list[Pair]:
    """Pairs within CANDIDATE hash bits whose thumbnails correlate at least NEAR, CHUNK rows at a time (memory
    and time bounded however many hashes lie close, as they do in data of many similar images)."""
    if len(found) < 2:
        return []
    hashes = np.array([f.phash for _, _, f in found], dtype=np.uint64)
    thumbs = np.stack([f.thumb for _, _, f in found])
    out = []
    for start in range(0, len(found), CHUNK):
        stop = min(start + CHUNK, len(found))
        close = np.bitwise_count(hashes[start:stop, None] ^ hashes[None, stop:]) <= CANDIDATE  # j > i: after the chunk
        similar = thumbs[start:stop] @ thumbs[stop:].T >= NEAR
        inside = np.bitwise_count(hashes[start:stop, None] ^ hashes[None, start:stop]) <= CANDIDATE
        inside &= np.triu(thumbs[start:stop] @ thumbs[start:stop].T >= NEAR, k=1)
        for i, j in [*zip(*np.nonzero(inside)), *((i, j + stop - start) for i, j in zip(*np.nonzero(close & similar)))]:
            a, b = start + int(i), start + int(j)
            first, second = _ordered(found[a][:2], found[b][:2])
            out.append(Pair("near", first, second, float(thumbs[a] @ thumbs[b])))
    return out
