"""`vislab data issues SWEEP`: label issues found by cleanlab in the out-of-fold predictions of a
cross-validation (`vislab crossval`), ranked, with a gallery of the top suspects.

    OUT/ (default SWEEP/issues/)
      label_issues.csv   every training image, most suspicious first: rank, file, given_label, suggested_label,
                         quality (cleanlab's label quality score, self-confidence: the out-of-fold probability of
                         the given label), issue (whether cleanlab.filter.find_label_issues flags it)
      suspects.txt       the flagged files, most suspicious first: give it to data.exclude to train without them
      suspects.png       the top suspects, each captioned with its given and suggested label

For per-pixel work (oof.npz) cleanlab.segmentation reads the masks and probabilities on the crossval grid:
quality is its image score (rank.get_label_quality_scores, softmin over the pixels' probabilities of their
given class), flagged_share the share of the image's labeled grid cells that filter.find_label_issues flags,
given_label and suggested_label the class most of those cells were given and the class the model most
suggests for them (empty when none is flagged); an image is an issue when its quality is below
SUSPECT_QUALITY (cleanlab's rank.issues_from_scores). Cells of the ignore index take the model's own class,
so they are never flagged and score as the model's confidence. The gallery shows each suspect's image, its
given mask, its flagged cells (white on the dimmed image) and the mask with those cells as the model suggests.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .. import config as config_mod
from ..atomic import atomic_write_text
from ..errors import VislabError
from ..outputs import out_folder
from .crossval import OOF, OOF_PIXELS, OutOfFold, load_oof, oof_file, unaugmented

CLEANLAB_MISSING = "vislab data issues needs cleanlab: pip install 'vislab[data]' (or pip install cleanlab)"
SUSPECT_QUALITY = 0.1  # cleanlab.segmentation.rank.issues_from_scores' default threshold on image scores


@dataclass
class Issues:
    """What ``label_issues`` found and wrote: ``flagged`` of ``total`` training images, and the files."""

    total: int
    flagged: int
    csv: Path
    suspects: Path
    gallery: Optional[Path]


def require_cleanlab() -> Any:
    """The cleanlab package, or bad input with the pip line that installs it."""
    try:
        import cleanlab.filter
        import cleanlab.rank
        import cleanlab.segmentation.filter
        import cleanlab.segmentation.rank
    except ImportError:
        raise VislabError(CLEANLAB_MISSING) from None
    return cleanlab


def label_issues(sweep_dir: str | Path, out: Optional[str | Path] = None, gallery: int = 32) -> Issues:
    """Rank the training images of a cross-validation sweep by cleanlab's label quality score of their
    out-of-fold predictions (SWEEP/oof.csv, or per pixel SWEEP/oof.npz), flag issues with
    ``find_label_issues`` and write OUT (see the module); ``gallery``: how many top suspects the picture
    shows (0: none)."""
    cleanlab = require_cleanlab()
    sweep_dir = Path(sweep_dir).expanduser()
    found = oof_file(sweep_dir)
    if found is None:
        raise VislabError(f"{sweep_dir} holds no out-of-fold predictions ({OOF} or {OOF_PIXELS}); run vislab crossval "
                          "RECIPE --folds K and give its sweep directory")
    if gallery < 0:
        raise VislabError(f"--gallery takes a number of images, 0 or more, not {gallery}")
    target = out_folder(Path(out).expanduser() if out is not None else sweep_dir / "issues")
    oof = load_oof(found)
    if oof.per_pixel:
        return pixel_issues(cleanlab, sweep_dir, target, oof, gallery)
    quality = cleanlab.rank.get_label_quality_scores(oof.labels, oof.probs)
    flagged = cleanlab.filter.find_label_issues(oof.labels, oof.probs)
    order = np.argsort(quality, kind="stable")
    write_ranking(target / "label_issues.csv", oof, quality, flagged, order)
    shown = [int(i) for i in order[:gallery]]
    picture = save_suspects(target / "suspects.png", sweep_dir, oof, shown, quality) if shown else None
    return finish(target, oof.files, order, flagged, picture)


def finish(target: Path, files: list[str], order: np.ndarray, flagged: np.ndarray, picture: Optional[Path]) -> Issues:
    """suspects.txt (the ``flagged`` images [N] in ranking ``order``) and what was found."""
    suspects = [files[i] for i in order if flagged[i]]
    atomic_write_text(target / "suspects.txt", "".join(f"{f}\n" for f in suspects))
    return Issues(len(files), len(suspects), target / "label_issues.csv", target / "suspects.txt", picture)


@dataclass
class PixelIssues:
    """cleanlab.segmentation's findings on per-pixel out-of-fold maps (N images, a G x G grid): ``quality``
    [N], ``flagged`` bool [N, G, G], ``share`` [N] (flagged / labeled cells), ``suggested`` [N, G, G] (the
    model's class per cell)."""

    quality: np.ndarray
    flagged: np.ndarray
    share: np.ndarray
    suggested: np.ndarray

    def most_common(self, classes: np.ndarray, i: int) -> Optional[int]:
        """The class most frequent in ``classes`` [N, G, G] among image ``i``'s flagged cells; None: none flagged."""
        cells = classes[i][self.flagged[i]]
        return int(np.bincount(cells).argmax()) if len(cells) else None


def find_pixel_issues(cleanlab: Any, oof: OutOfFold) -> PixelIssues:
    """cleanlab.segmentation's image scores and flagged cells of per-pixel out-of-fold maps (see the module)."""
    probs = oof.probs / oof.probs.sum(1, keepdims=True)  # float16 storage leaves sums a little off 1
    suggested = probs.argmax(1)
    ignored = oof.labels == oof.ignore_index
    labels = np.where(ignored, suggested, oof.labels).astype(np.int64)
    quality, _ = cleanlab.segmentation.rank.get_label_quality_scores(labels, probs, verbose=False)
    flagged = cleanlab.segmentation.filter.find_label_issues(labels, probs, n_jobs=1, verbose=False) & ~ignored
    share = flagged.sum((1, 2)) / np.maximum((~ignored).sum((1, 2)), 1)
    return PixelIssues(quality, flagged, share, suggested)


def pixel_issues(cleanlab: Any, sweep_dir: Path, target: Path, oof: OutOfFold, gallery: int) -> Issues:
    """label_issues for per-pixel out-of-fold maps (see the module)."""
    found = find_pixel_issues(cleanlab, oof)
    order = np.argsort(found.quality, kind="stable")
    flagged = found.quality < SUSPECT_QUALITY
    names = oof.class_names

    def named(cls: Optional[int]) -> str:
        return "" if cls is None else names[cls]

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["rank", "file", "given_label", "suggested_label", "quality", "flagged_share", "issue"])
    for rank, i in enumerate(order, 1):
        w.writerow([rank, oof.files[i], named(found.most_common(oof.labels, i)), named(found.most_common(found.suggested, i)),
                    f"{found.quality[i]:.6f}", f"{found.share[i]:.4f}", str(bool(flagged[i])).lower()])
    atomic_write_text(target / "label_issues.csv", out.getvalue())
    shown = [int(i) for i in order[:gallery]]
    picture = save_pixel_suspects(target / "suspects.png", sweep_dir, oof, found, shown) if shown else None
    return finish(target, oof.files, order, flagged, picture)


def save_pixel_suspects(path: Path, sweep_dir: Path, oof: OutOfFold, found: PixelIssues, shown: list[int]) -> Path:
    """A row per suspect (positions in ``oof``): image, given mask, flagged cells, the mask as the model suggests."""
    from ..viz import class_legend, colorize, save_grid, to_display

    dataset, names = training_images(sweep_dir)
    position = {n: i for i, n in enumerate(names)}
    images, titles = [], []
    for i in shown:
        sample = dataset[position[oof.files[i]]]
        image, mask = to_display(sample["image"]), np.asarray(sample["target"])
        flagged, suggested = on_image(found.flagged[i], mask.shape), on_image(found.suggested[i], mask.shape)
        marked = np.where(flagged[..., None], 255, image // 3).astype(np.uint8)
        given, model = found.most_common(oof.labels, i), found.most_common(found.suggested, i)
        change = f": {oof.class_names[given]} -> {oof.class_names[model]}" if given is not None and model is not None else ""
        images += [image, colorize(mask), marked, colorize(np.where(flagged, suggested, mask))]
        titles += [f"{oof.files[i]} q={found.quality[i]:.2g}", "given mask", f"flagged {found.share[i]:.0%}{change}",
                   "suggested"]
    return save_grid(path, images, titles, ncols=4, cell=2.0, legend=class_legend(oof.class_names, oof.ignore_index))


def on_image(grid: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """A G x G grid [G, G] spread over an image of ``size`` (H, W), each pixel taking its cell's value."""
    g = grid.shape[0]
    rows, cols = np.arange(size[0]) * g // size[0], np.arange(size[1]) * g // size[1]
    return grid[rows][:, cols]


def write_ranking(path: Path, oof: OutOfFold, quality: np.ndarray, flagged: np.ndarray, order: np.ndarray) -> None:
    """label_issues.csv: every image, lowest label quality first."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["rank", "file", "given_label", "suggested_label", "quality", "issue"])
    names = oof.class_names
    for rank, i in enumerate(order, 1):
        w.writerow([rank, oof.files[i], names[oof.labels[i]], names[int(oof.probs[i].argmax())], f"{quality[i]:.6f}",
                    str(bool(flagged[i])).lower()])
    atomic_write_text(path, out.getvalue())


def save_suspects(path: Path, sweep_dir: Path, oof: OutOfFold, shown: list[int], quality: np.ndarray) -> Path:
    """A grid of the ``shown`` images (positions in ``oof``), captioned 'given 3, suggested 8, q=0.0021'."""
    from ..viz import save_grid, to_display

    dataset, names = training_images(sweep_dir)
    position = {n: i for i, n in enumerate(names)}
    images = [to_display(dataset[position[oof.files[i]]]["image"]) for i in shown]
    labels = oof.class_names
    titles = [f"given {labels[oof.labels[i]]}, suggested {labels[int(oof.probs[i].argmax())]}, q={quality[i]:.2g}"
              for i in shown]
    return save_grid(path, images, titles)


def training_images(sweep_dir: Path) -> tuple[Any, list[str]]:
    """The whole training split the sweep cross-validated (a fold run's data.* keys, no fold held out), loaded
    without random augmentation (crossval.unaugmented), and the name of each image."""
    from ..data.loading.folds import training_names
    from ..runs import find_runs

    run = next(find_runs(sweep_dir))
    bundle = unaugmented(config_mod.resolve(run.config_path, {"data.folds": None, "data.fold": 0}))
    return bundle.train, training_names(bundle)
