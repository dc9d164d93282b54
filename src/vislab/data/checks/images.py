"""What each image is (size, mode, channels), what a person would call wrong with it (unreadable, near-constant,
very dark or light, blurry, odd aspect ratio), and its fingerprints for duplicates: a hash of its decoded pixels
(exact copies, whatever the file format) and a perceptual hash plus a 16x16 thumbnail (near copies).

Statistics come from Pillow (``ImageStat``, the ``FIND_EDGES`` filter), hashes from imagehash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ...errors import VislabError

DARK, LIGHT = 20.0, 235.0  # mean gray level (0..255) below/above which an image is very dark/light
FLAT = 2.0  # gray-level standard deviation below which an image is near-constant
BLUR_SHARE = 0.25  # blurry: edge strength per unit of contrast under this share of its split's median
ODD_ASPECT = 1.5  # odd aspect ratio: width/height this far (as a factor) from the split's median
THUMB = 16  # thumbnail side for the near-duplicate decision


@dataclass
class Facts:
    """One readable image: ``size`` (W, H), PIL ``mode``, ``channels``, mean gray level ``brightness``,
    gray-level ``contrast`` (std), ``sharpness`` (edge strength over contrast), ``pixels`` (hash of the decoded
    pixels), ``phash`` (64 bits as uint64), ``thumb`` (float [THUMB*THUMB], zero mean, unit norm)."""

    size: tuple[int, int]
    mode: str
    channels: int
    brightness: float
    contrast: float
    sharpness: float
    pixels: str
    phash: int
    thumb: np.ndarray


def need_imagehash() -> Any:
    """imagehash, or bad input naming the pip line of the extra that brings it."""
    try:
        import imagehash
    except ImportError:
        raise VislabError("vislab data check needs imagehash: pip install 'vislab[data]' (or pip install imagehash)") from None
    return imagehash


def facts(image: Any) -> Facts:
    """The facts of a PIL image as stored."""
    from PIL import ImageFilter, ImageStat

    imagehash = need_imagehash()
    gray = image.convert("L")
    stat = ImageStat.Stat(gray)
    contrast = float(stat.stddev[0])
    edges = ImageStat.Stat(gray.filter(ImageFilter.FIND_EDGES).crop((1, 1, max(2, gray.width - 1), max(2, gray.height - 1))))
    bits = imagehash.phash(gray).hash.flatten()
    thumb = np.asarray(gray.resize((THUMB, THUMB), resample=2), dtype=np.float32).ravel()  # 2: bilinear
    thumb = thumb - thumb.mean()
    norm = np.linalg.norm(thumb)
    return Facts(
        size=image.size, mode=image.mode, channels=len(image.getbands()), brightness=float(stat.mean[0]),
        contrast=contrast, sharpness=float(edges.stddev[0]) / max(contrast, 1e-6),
        pixels=hashlib.sha1(f"{image.mode}{image.size}".encode() + image.tobytes()).hexdigest(),
        phash=int(np.packbits(bits).view(">u8")[0]), thumb=thumb / norm if norm else thumb,
    )


def quality_issues(found: dict[str, Facts]) -> dict[str, list[str]]:
    """Each image's issues by name: 'near-constant', 'very dark', 'very light', 'blurry', 'odd aspect ratio'.
    Blur and aspect are judged against the images given (one split): what is odd depends on the data."""
    if not found:
        return {}
    sharp = np.median([f.sharpness for f in found.values() if f.contrast >= FLAT] or [0.0])
    aspect = np.median([f.size[0] / f.size[1] for f in found.values()])
    out: dict[str, list[str]] = {}
    for name, f in found.items():
        issues = []
        if f.contrast < FLAT:
            issues.append("near-constant")
        elif f.sharpness < BLUR_SHARE * sharp:
            issues.append("blurry")
        if f.brightness < DARK:
            issues.append("very dark")
        elif f.brightness > LIGHT:
            issues.append("very light")
        ratio = (f.size[0] / f.size[1]) / aspect
        if not 1 / ODD_ASPECT <= ratio <= ODD_ASPECT:
            issues.append("odd aspect ratio")
        if issues:
            out[name] = issues
    return out


def odd_values(values: dict[str, Any], share: float = 0.05) -> dict[str, Any]:
    """The names whose value (a size, a mode) is held by under ``share`` of the images, when one value is
    the most common: the odd ones out of a histogram."""
    counts: dict[Any, int] = {}
    for v in values.values():
        counts[v] = counts.get(v, 0) + 1
    if len(counts) < 2:
        return {}
    rare = {v for v, c in counts.items() if c < share * len(values)}
    return {name: v for name, v in values.items() if v in rare}


def histogram(values: list[Any]) -> list[tuple[Any, int]]:
    """(value, count), most common first."""
    counts: dict[Any, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))


def describe_size(size: Optional[tuple[int, int]]) -> str:
    """(W, H) -> 'HxW', the order vislab's keys use (aug.resize=[H, W])."""
    return "?" if size is None else f"{size[1]}x{size[0]}"
