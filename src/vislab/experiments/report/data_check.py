"""The report of `vislab data check`: data_report.md and .html with galleries (PNG) of leaks, duplicates and
poor images, the short summary printed on the terminal, and the record `vislab compare` reads
(<runs>/data_checks/<data identity>.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import atomic_write_text
from ...data.checks import DataCheck
from ...data.checks.duplicates import CANDIDATE, NEAR, Pair
from ...data.checks.images import BLUR_SHARE, DARK, FLAT, LIGHT, ODD_ASPECT, describe_size
from .comparison import render_html, render_markdown

GALLERY = 24  # pairs (or images) at most in one gallery
SHOWN = 5  # mask problems named on the terminal (the report lists all)


@dataclass
class CheckedData:
    """A finished data check: the findings, the data identity, the report files (data_report.md first), the
    record compare reads, and the summary lines the terminal shows."""

    check: DataCheck
    identity: str
    files: list[Path]
    record: Path
    summary: list[str]

    @property
    def failed_strict(self) -> bool:
        """A leak across splits or a mask training would misread: what --strict exits 1 for."""
        return bool(self.check.leaks or self.check.invalid_masks)


def write_record(check: DataCheck, path: Path, identity: str, recipe: str, report: Path) -> None:
    leaks = check.leaks
    atomic_write_text(path, json.dumps({
        "identity": identity, "recipe": recipe, "report": str(report), "leaks": len(leaks),
        "leak_splits": sorted({f"{p.first[0]}/{p.second[0]}" for p in leaks}),
        "examples": [[where(p.first), where(p.second)] for p in leaks[:SHOWN]],
        "invalid_masks": len(check.invalid_masks),
    }, indent=1) + "\n")


# ------------------------------------------------------------------------------------------------
# summary
# ------------------------------------------------------------------------------------------------


def summary_lines(check: DataCheck, recipe: str) -> list[str]:
    """The few lines the terminal shows: sizes, leaks, duplicates, masks, poor images, balance."""
    splits = check.splits
    lines = [f"data check of {recipe}: " + ", ".join(f"{s} {r.images}" for s, r in splits.items()) + " images"]
    leaks = check.leaks
    if leaks:
        by = _counts(f"{p.first[0]}/{p.second[0]}" for p in leaks)
        exact = sum(p.kind == "exact" for p in leaks)
        lines.append(f"warning: {len(leaks)} images leak across splits ({exact} exact, {len(leaks) - exact} near "
                     f"copies; {', '.join(f'{k} {v}' for k, v in by.items())}), e.g. "
                     f"{where(leaks[0].first)} = {where(leaks[0].second)}")
    else:
        lines.append("no leaks across splits")
    within = [p for p in check.pairs if not p.across]
    if within:
        lines.append(f"warning: {len(within)} duplicate pairs within splits")
    problems = check.invalid_masks
    for problem in problems[:SHOWN]:
        lines.append(f"warning: mask {where((problem.split, problem.mask))} {problem.problem}; {problem.fix}")
    if len(problems) > SHOWN:
        lines.append(f"warning: and {len(problems) - SHOWN} more masks (see the report)")
    unreadable = sum(len(r.unreadable) for r in splits.values())
    if unreadable:
        lines.append(f"warning: {unreadable} unreadable images")
    poor = _counts(i for r in splits.values() for issues in r.quality.values() for i in issues)
    if poor:
        lines.append("warning: image quality: " + ", ".join(f"{k} {v}" for k, v in poor.items()))
    odd = sum(len(r.odd) for r in splits.values())
    if odd:
        lines.append(f"note: {odd} images of an odd size or mode")
    train = splits.get("train")
    if train is not None and train.classes is not None:
        lines.append(f"train classes: {len(train.classes)}, imbalance {train.imbalance():.2f} (largest / smallest)")
    if check.masks is not None and check.masks.never:
        lines.append("warning: classes in no training mask: " + ", ".join(_class_names(check, check.masks.never)))
    return lines


def where(side: tuple[str, str]) -> str:
    """(split, name) as the user finds it: the file when its path names its split, else 'name (split)'."""
    split, name = side
    return name if name.startswith(f"{split}/") else f"{name} ({split})"


def _counts(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _class_names(check: DataCheck, ids: list[int]) -> list[str]:
    names = check.source.class_names
    return [names[i] if names and i < len(names) else str(i) for i in ids]


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------


def write_data_report(check: DataCheck, out: Path, recipe: str, identity: str) -> list[Path]:
    """data_report.md, data_report.html and the gallery PNGs in ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    items = blocks(check, out, recipe, identity)
    md, html = out / "data_report.md", out / "data_report.html"
    atomic_write_text(md, render_markdown(items))
    atomic_write_text(html, render_html(items))
    return [md, html, *(b[1] for b in items if b[0] == "img")]


def blocks(check: DataCheck, out: Path, recipe: str, identity: str) -> list[tuple]:
    items: list[tuple] = [("h1", f"Data check: {recipe}"), ("p", "\n".join(summary_lines(check, recipe))),
                          ("p", f"Data identity {identity} (compare looks this check up by it).")]
    items += pair_blocks(check, out)
    items += class_blocks(check)
    items += image_blocks(check, out)
    items += mask_blocks(check)
    items += [("h2", "Method"), ("p", method_text())]
    return items


def pair_blocks(check: DataCheck, out: Path) -> list[tuple]:
    items: list[tuple] = []
    for title, pairs, png in (("Leaks across splits", check.leaks, "leaks.png"),
                              ("Duplicates within splits", [p for p in check.pairs if not p.across], "duplicates.png")):
        items.append(("h2", f"{title}: {len(pairs)}"))
        if not pairs:
            continue
        items.append(("table", ["kind", "split", "file", "split", "file", "thumbnail correlation"],
                      [[p.kind, *p.first, *p.second, f"{p.similarity:.4f}"] for p in pairs]))
        items.append(("img", pair_gallery(check, pairs[:GALLERY], out / png)))
    return items


def _images(check: DataCheck, keys: list[tuple[str, str]]) -> list[np.ndarray]:
    by_key = {(s, it.name): it for s, items in check.source.splits.items() for it in items}
    return [np.asarray(by_key[k].image().convert("RGB")) for k in keys]


def pair_gallery(check: DataCheck, pairs: list[Pair], path: Path) -> Path:
    """Each pair side by side, its split and file above each image."""
    from ...viz import save_grid

    keys = [k for p in pairs for k in (p.first, p.second)]
    return save_grid(path, _images(check, keys), [where(k) for k in keys], ncols=4, cell=1.0)


def class_blocks(check: DataCheck) -> list[tuple]:
    splits = {s: r for s, r in check.splits.items() if r.classes is not None}
    if not splits:
        return []
    names = check.source.class_names or []
    rows = [[name, *(str(r.classes[i]) for r in splits.values())] for i, name in enumerate(names)]
    rows.append(["imbalance (largest / smallest)", *(f"{r.imbalance():.2f}" for r in splits.values())])
    items: list[tuple] = [("h2", "Images per class"), ("table", ["class", *splits], rows)]
    for split, r in splits.items():
        if r.domain_classes is not None:
            items += [("h2", f"Domains x classes ({split})"),
                      ("table", ["domain", *names], [[d, *map(str, row)] for d, row in zip(check.source.domains, r.domain_classes)])]
    return items


def image_blocks(check: DataCheck, out: Path) -> list[tuple]:
    items: list[tuple] = [("h2", "Image sizes, modes and channels"),
                          ("table", ["split", "sizes (HxW: images)", "modes", "channels"],
                           [[s, _hist(r.sizes, describe_size), _hist(r.modes), _hist(r.channels)] for s, r in check.splits.items()])]
    odd = [[s, n, why] for s, r in check.splits.items() for n, why in sorted(r.odd.items())]
    if odd:
        items += [("p", "Odd ones out (held by under 5% of their split):"), ("table", ["split", "file", "odd"], odd)]
    unreadable = [[s, n, e] for s, r in check.splits.items() for n, e in r.unreadable]
    items += [("h2", f"Unreadable files: {len(unreadable)}")]
    if unreadable:
        items.append(("table", ["split", "file", "error"], unreadable))
    poor = [(s, n, issues) for s, r in check.splits.items() for n, issues in sorted(r.quality.items())]
    items.append(("h2", f"Image quality: {len(poor)} flagged"))
    if poor:
        items.append(("table", ["split", "file", "issues"], [[s, n, ", ".join(i)] for s, n, i in poor]))
        from ...viz import save_grid

        shown = poor[:GALLERY]
        items.append(("img", save_grid(out / "quality.png", _images(check, [(s, n) for s, n, _ in shown]),
                                       [", ".join([n, *i]) for _, n, i in shown], ncols=6, cell=1.2)))
    return items


def _hist(pairs: list[tuple], show: Any = str) -> str:
    text = ", ".join(f"{show(v)}: {c}" for v, c in pairs[:5])
    return text + (f", ... ({len(pairs) - 5} more)" if len(pairs) > 5 else "")


def mask_blocks(check: DataCheck) -> list[tuple]:
    masks = check.masks
    if masks is None:
        return []
    names = _class_names(check, list(range(masks.num_classes)))
    items: list[tuple] = [("h2", f"Masks: {len(masks.problems)} problems")]
    if masks.problems:
        items.append(("table", ["split", "mask", "problem", "setting to use"],
                      [[p.split, p.mask, p.problem, p.fix] for p in masks.problems]))
    if masks.palette:
        items.append(("p", f"{len(masks.palette)} palette masks (e.g. {masks.palette[0]}): their palette indices are "
                           "read as class ids, not their colours."))
    if masks.never:
        items.append(("p", "Classes in no training mask: " + ", ".join(_class_names(check, masks.never)) + "."))
    header = ["class", *(f"{s} pixels" for s in masks.splits), *(f"{s} images" for s in masks.splits)]
    rows = []
    for c, name in enumerate(names):
        shares = [f"{100 * m.pixels[c] / max(1, m.pixels.sum()):.1f}%" for m in masks.splits.values()]
        rows.append([name, *shares, *(str(m.images[c]) for m in masks.splits.values())])
    items += [("h2", "Pixels and images per class"), ("table", header, rows)]
    with_instances = {s: m for s, m in masks.splits.items() if m.instances}
    if with_instances:
        items += [("h2", "Instances"), ("table", ["split", "instances per image (mean, min, max)", "area in pixels (5%, median, 95%)"],
                  [[s, f"{np.mean(m.instances):.2f}, {min(m.instances)}, {max(m.instances)}",
                    ", ".join(f"{v:.0f}" for v in np.percentile(m.areas or [0], [5, 50, 95]))]
                   for s, m in with_instances.items()])]
    return items


def method_text() -> str:
    return (f"Exact duplicates share their decoded pixels. Near duplicates: a perceptual hash (imagehash.phash) within "
            f"{CANDIDATE} of 64 bits proposes a pair, and a correlation of their 16x16 gray thumbnails of at least {NEAR} "
            f"decides it. Near-constant: gray standard deviation under {FLAT}; very dark / light: mean gray under {DARK:.0f} / "
            f"over {LIGHT:.0f} (of 255); blurry: edge strength per unit of contrast under {BLUR_SHARE} of its split's median; "
            f"odd aspect ratio: width/height over {ODD_ASPECT}x from its split's median.")

