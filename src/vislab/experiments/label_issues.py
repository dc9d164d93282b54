"""`vislab data issues SWEEP`: label issues found by cleanlab in the out-of-fold predictions of a
cross-validation (`vislab crossval`), ranked, with a gallery of the top suspects.

    OUT/ (default SWEEP/issues/)
      label_issues.csv   every training image, most suspicious first: rank, file, given_label, suggested_label,
                         quality (cleanlab's label quality score, self-confidence: the out-of-fold probability of
                         the given label), issue (whether cleanlab.filter.find_label_issues flags it)
      suspects.txt       the flagged files, most suspicious first: give it to data.exclude to train without them
      suspects.png       the top suspects, each captioned with its given and suggested label
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .. import config as config_mod
from ..atomic import atomic_write_text
from ..errors import VislabError
from ..outputs import out_folder
from .crossval import OOF, OutOfFold, read_oof

CLEANLAB_MISSING = "vislab data issues needs cleanlab: pip install 'vislab[data]' (or pip install cleanlab)"


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
    except ImportError:
        raise VislabError(CLEANLAB_MISSING) from None
    return cleanlab


def label_issues(sweep_dir: str | Path, out: Optional[str | Path] = None, gallery: int = 32) -> Issues:
    """Rank the training images of a cross-validation sweep by cleanlab's label quality score of their
    out-of-fold predictions (SWEEP/oof.csv), flag issues with ``find_label_issues`` and write OUT (see the
    module); ``gallery``: how many top suspects the picture shows (0: none)."""
    cleanlab = require_cleanlab()
    sweep_dir = Path(sweep_dir).expanduser()
    if not (sweep_dir / OOF).is_file():
        raise VislabError(f"{sweep_dir} holds no out-of-fold predictions ({OOF}); run vislab crossval RECIPE --folds K "
                          "and give its sweep directory")
    if gallery < 0:
        raise VislabError(f"--gallery takes a number of images, 0 or more, not {gallery}")
    target = out_folder(Path(out).expanduser() if out is not None else sweep_dir / "issues")
    oof = read_oof(sweep_dir / OOF)
    quality = cleanlab.rank.get_label_quality_scores(oof.labels, oof.probs)
    flagged = cleanlab.filter.find_label_issues(oof.labels, oof.probs)
    order = np.argsort(quality, kind="stable")
    write_ranking(target / "label_issues.csv", oof, quality, flagged, order)
    suspects = [oof.files[i] for i in order if flagged[i]]
    atomic_write_text(target / "suspects.txt", "".join(f"{f}\n" for f in suspects))
    shown = [int(i) for i in order[:gallery]]
    picture = save_suspects(target / "suspects.png", sweep_dir, oof, shown, quality) if shown else None
    return Issues(len(oof.files), len(suspects), target / "label_issues.csv", target / "suspects.txt", picture)


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
    without random augmentation, and the name of each image."""
    from .. import data
    from ..config import AugConfig
    from ..data.loading.folds import training_names
    from ..runs import find_runs

    run = next(find_runs(sweep_dir))
    cfg = config_mod.resolve(run.config_path, {"data.folds": None, "data.fold": 0})
    plain = dataclasses.replace(AugConfig(), resize=cfg.aug.resize, center_crop=cfg.aug.center_crop)
    bundle = data.build(cfg.data, plain)
    return bundle.train, training_names(bundle)
