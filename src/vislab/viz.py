"""Pictures: image grids and confusion matrices as PNG, with matplotlib's Agg canvas (no display needed)."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch


def to_display(image: torch.Tensor) -> np.ndarray:
    """uint8 [C,H,W] or float [C,H,W] in [0, 1] -> uint8 [H,W,3] for showing."""
    x = image.detach().cpu()
    if x.dtype != torch.uint8:
        x = (x.float().clamp(0, 1) * 255).round().to(torch.uint8)
    if x.shape[0] == 1:
        x = x.expand(3, *x.shape[1:])
    return x[:3].permute(1, 2, 0).numpy()


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_grid(
    path: Path,
    images: Sequence[np.ndarray],
    titles: Optional[Sequence[str]] = None,
    ncols: int = 8,
    cell: float = 1.6,
) -> Path:
    """A grid of uint8 [H,W,3] images with optional titles above them, saved as PNG.

    ``cell`` is each image's box in hundreds of pixels (1.6: 160 px); small images are enlarged with
    nearest neighbours so their pixels stay visible. Composed with PIL: a grid of 32 takes milliseconds,
    where matplotlib subplots took about a second, half of a small run's time.
    """
    from PIL import Image, ImageDraw, ImageFont

    n = max(1, len(images))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    box, pad = max(16, round(cell * 100)), 6
    font = ImageFont.load_default()
    title_h = pad + 12 if titles else 0
    canvas = Image.new("RGB", (ncols * (box + pad) + pad, nrows * (box + title_h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, array in enumerate(images):
        row, col = divmod(i, ncols)
        x, y = pad + col * (box + pad), pad + row * (box + title_h + pad)
        img = Image.fromarray(np.ascontiguousarray(array))
        scale = box / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.NEAREST if scale >= 1 else Image.BILINEAR)
        if titles:
            text = titles[i]
            while len(text) > 4 and draw.textlength(text, font=font) > box:
                text = text.rstrip("…")[:-1] + "…"
            draw.text((x, y), text, fill="black", font=font)
        canvas.paste(img, (x + (box - img.width) // 2, y + title_h + (box - img.height) // 2))
    canvas.save(path)
    return Path(path)


def save_confusion(path: Path, matrix: np.ndarray, class_names: Sequence[str]) -> Path:
    """Row-normalized confusion matrix (rows: truth, columns: prediction) as PNG."""
    k = len(class_names)
    size = min(20.0, max(4.0, 0.35 * k + 2))
    fig = _figure(size, size)
    ax = fig.add_subplot(1, 1, 1)
    rows = matrix.sum(1, keepdims=True).clip(min=1)
    im = ax.imshow(matrix / rows, cmap="Blues", vmin=0, vmax=1)
    if k <= 40:
        ax.set_xticks(range(k), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(k), class_names, fontsize=7)
        if k <= 15:
            for i in range(k):
                for j in range(k):
                    if matrix[i, j]:
                        ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                                color="white" if matrix[i, j] / rows[i, 0] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


@functools.lru_cache(maxsize=1)
def voc_palette() -> np.ndarray:
    """PASCAL VOC's colour map, uint8 [256, 3] (read-only; built once): class 0 black, 255 (ignore) cream,
    the rest distinct."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        c, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[index] = (r, g, b)
    palette.flags.writeable = False
    return palette


def colorize(mask: np.ndarray) -> np.ndarray:
    """Class ids [H,W] -> uint8 [H,W,3] in the VOC palette."""
    return voc_palette()[np.asarray(mask, dtype=np.int64) % 256]


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 [H,W,3] image with the non-background classes of ``mask`` [H,W] blended in (VOC palette)."""
    colors = colorize(mask).astype(np.float32)
    shown = (np.asarray(mask) != 0)[..., None]
    blended = np.where(shown, (1 - alpha) * image.astype(np.float32) + alpha * colors, image.astype(np.float32))
    return blended.round().astype(np.uint8)


def save_mask_png(path: Path, mask: np.ndarray) -> Path:
    """Class ids [H,W] as a palette PNG: shown in VOC colours, read back as the ids."""
    from PIL import Image

    im = Image.fromarray(np.asarray(mask, dtype=np.uint8))
    im.putpalette(voc_palette().flatten().tolist())  # turns the grayscale image into a palette one
    im.save(path)
    return Path(path)


def save_png(path: Path, image: np.ndarray) -> Path:
    """uint8 [H,W,3] as PNG."""
    from PIL import Image

    Image.fromarray(image).save(path)
    return Path(path)
