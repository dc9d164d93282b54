"""Pictures: image grids and confusion matrices as PNG, with matplotlib's Agg canvas (no display needed)."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

if TYPE_CHECKING:  # the comparison report draws with this module and never imports torch
    import torch


def to_display(image: torch.Tensor) -> np.ndarray:
    """uint8 [C,H,W] or float [C,H,W] in [0, 1] -> uint8 [H,W,3] for showing."""
    import torch

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
    legend: Optional[Sequence[tuple[str, Sequence[int]]]] = None,
) -> Path:
    """A grid of uint8 [H,W,3] images with optional titles above them, saved as PNG; ``legend`` (name, RGB)
    pairs are drawn below it as coloured swatches.

    ``cell`` is each image's box in hundreds of pixels (1.6: 160 px); small images are enlarged with
    nearest neighbours so their pixels stay visible. A title wider than its box wraps after its commas.
    Composed with PIL: a grid of 32 takes milliseconds, where matplotlib subplots took about a second,
    half of a small run's time.
    """
    from PIL import Image, ImageDraw, ImageFont

    n = max(1, len(images))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    box, pad, line = max(16, round(cell * 100)), 6, 12
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = [_wrap(t, box, measure, font) for t in titles] if titles else []
    title_h = pad + line * max(len(t) for t in lines) if lines else 0
    width = ncols * (box + pad) + pad
    legend_rows = _legend_rows(legend or [], width - 2 * pad, measure, font)
    canvas = Image.new("RGB", (width, nrows * (box + title_h + pad) + pad + len(legend_rows) * (line + pad)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, array in enumerate(images):
        row, col = divmod(i, ncols)
        x, y = pad + col * (box + pad), pad + row * (box + title_h + pad)
        img = Image.fromarray(np.ascontiguousarray(array))
        scale = box / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.NEAREST if scale >= 1 else Image.BILINEAR)
        for j, text in enumerate(lines[i] if lines else []):
            draw.text((x, y + j * line), text, fill="black", font=font)
        canvas.paste(img, (x + (box - img.width) // 2, y + title_h + (box - img.height) // 2))
    y = nrows * (box + title_h + pad) + pad
    for items in legend_rows:
        x = pad
        for name, color, w in items:
            draw.rectangle([x, y + 1, x + line - 2, y + line - 1], fill=tuple(int(c) for c in color), outline="black")
            draw.text((x + line + 2, y), name, fill="black", font=font)
            x += w
        y += line + pad
    canvas.save(path)
    return Path(path)


def _wrap(text: str, width: int, draw, font) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels, broken after commas, a line too long cut with an ellipsis."""
    lines: list[str] = []
    for part in text.split(", "):
        joined = f"{lines[-1]}, {part}" if lines else part
        if lines and draw.textlength(joined, font=font) <= width:
            lines[-1] = joined
        else:
            lines.append(part)
    cut = []
    for text in lines:
        while len(text) > 4 and draw.textlength(text, font=font) > width:
            text = text.rstrip("…")[:-1] + "…"
        cut.append(text)
    return cut


def _legend_rows(legend: Sequence[tuple[str, Sequence[int]]], width: int, draw, font) -> list[list[tuple[str, Sequence[int], int]]]:
    """Legend entries (name, colour, advance in pixels) packed into rows no wider than ``width``."""
    rows: list[list] = []
    used = 0
    for name, color in legend:
        advance = 12 + 2 + round(draw.textlength(name, font=font)) + 10
        if not rows or (rows[-1] and used + advance > width):
            rows.append([])
            used = 0
        rows[-1].append((name, color, advance))
        used += advance
    return rows


def class_legend(class_names: Sequence[str], ignore_index: Optional[int] = None) -> list[tuple[str, Sequence[int]]]:
    """(name, RGB) for each class in the figures' palette, and for ``ignore_index`` ("void") when given."""
    palette = class_palette()
    items = [(name, palette[i].tolist()) for i, name in enumerate(class_names)]
    if ignore_index is not None:
        items.append(("void", palette[ignore_index % 256].tolist()))
    return items


def confusion_shares(matrix: np.ndarray) -> tuple[np.ndarray, list[list[str]]]:
    """The row-normalized matrix [K, K] (each true class's samples shared among the predictions) and the
    text of each cell: that share with two decimals, empty where no sample fell. Colour and numbers of the
    figure both come from the shares, so they say the same thing."""
    shares = matrix / matrix.sum(1, keepdims=True).clip(min=1)
    texts = [[f"{v:.2f}" if c else "" for v, c in zip(row, counts)] for row, counts in zip(shares, matrix)]
    return shares, texts


def save_confusion(path: Path, matrix: np.ndarray, class_names: Sequence[str], title: str = "") -> Path:
    """Row-normalized confusion matrix (rows: truth, columns: prediction) as PNG: colours and the numbers in
    the cells (up to 15 classes) are the share of the true class's samples; ``title`` above it."""
    k = len(class_names)
    size = min(20.0, max(4.0, 0.35 * k + 2))
    fig = _figure(size, size)
    ax = fig.add_subplot(1, 1, 1)
    shares, texts = confusion_shares(matrix)
    im = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if k <= 40:
        ax.set_xticks(range(k), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(k), class_names, fontsize=7)
        if k <= 15:
            for i in range(k):
                for j in range(k):
                    if texts[i][j]:
                        ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=7,
                                color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    bar = fig.colorbar(im, ax=ax, fraction=0.046)
    bar.set_label("share of the true class's samples (row-normalized)", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


@functools.lru_cache(maxsize=1)
def class_palette() -> np.ndarray:
    """The figures' and masks' colours, uint8 [256, 3] (read-only; built once): class 0 (background) black,
    255 (ignore) light grey, every other class a bright, saturated hue, neighbours in id far apart in hue
    (golden-ratio steps), so that each class stays visible when blended over a photo, where several of
    VOC's dark colours (navy, maroon, dark green) vanished."""
    import colorsys

    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(1, 255):
        hue = ((index - 1) * 0.618034) % 1.0
        saturation = 1.0 if index % 2 else 0.65  # alternate depth so close hues still differ
        palette[index] = [round(255 * c) for c in colorsys.hsv_to_rgb(hue, saturation, 1.0)]
    palette[255] = (224, 224, 224)
    palette.flags.writeable = False
    return palette


def colorize(mask: np.ndarray) -> np.ndarray:
    """Class ids [H,W] -> uint8 [H,W,3] in the class palette."""
    return class_palette()[np.asarray(mask, dtype=np.int64) % 256]


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 [H,W,3] image with the non-background classes of ``mask`` [H,W] blended in (class palette)."""
    colors = colorize(mask).astype(np.float32)
    shown = (np.asarray(mask) != 0)[..., None]
    blended = np.where(shown, (1 - alpha) * image.astype(np.float32) + alpha * colors, image.astype(np.float32))
    return blended.round().astype(np.uint8)


def save_mask_png(path: Path, mask: np.ndarray) -> Path:
    """Class ids [H,W] as a palette PNG: shown in the class palette, read back as the ids."""
    from PIL import Image

    im = Image.fromarray(np.asarray(mask, dtype=np.uint8))
    im.putpalette(class_palette().flatten().tolist())  # turns the grayscale image into a palette one
    im.save(path)
    return Path(path)


def save_png(path: Path, image: np.ndarray) -> Path:
    """uint8 [H,W,3] as PNG."""
    from PIL import Image

    Image.fromarray(image).save(path)
    return Path(path)
