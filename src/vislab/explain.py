"""Class-activation maps of a finished run (``vislab explain``), through pytorch-grad-cam, and the checks that say
whether to trust them: faithfulness (ROAD deletion against a random map) and the model-randomization sanity
check (Adebayo et al., NeurIPS 2018).

The maps themselves come from vislab.cam (the layer the model's contract declares; ``--layer`` overrides it),
which the evaluation galleries share.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Optional

from .errors import VislabError
from .cam import Explainer, Images, cam_maps, check_method, explainer_for, require_library, targets_for

HEADS = ("class", "domain")
RANDOMIZATION_LIMIT = 0.5  # mean rank correlation with a re-initialized model's maps at or above it fails
CHECK_SEED = 0  # the re-initialized model and the random baseline map are drawn from it: a check repeats exactly


def check_options(methods: list[str], head: str, split: Optional[str], count: int, inputs: list[str], target: str) -> None:
    """Bad input in the options, before anything is loaded."""
    for method in methods:
        check_method(method, "--method")
    if head not in HEADS:
        raise VislabError(f"--head must be {' or '.join(HEADS)}, not '{head}'")
    if split is not None and split not in ("train", "val", "test"):
        raise VislabError(f"--split must be train, val or test, not '{split}'")
    if (split is None) == (not inputs):
        raise VislabError("give image files (or folders), or --split NAME to take images of the run's own data, not both"
                          if inputs else "give image files (or folders) to explain, or --split test to take the run's test images")
    if count < 1:
        raise VislabError(f"--count must be at least 1, not {count}")
    if target == "true" and split is None:
        raise VislabError("--target true needs the images' labels: take them from the run's data with --split test")


def file_images(r: Any, files: list[Path]) -> Images:
    """Image files as the run's evaluation takes them (classification.predict.batch_preparer)."""
    from .tasks.classification.predict import batch_preparer

    shown = batch_preparer(r.cfg.aug, r.info)(files)
    return Images(normalized(r, shown).to(r.fabric.device), shown, [f.stem for f in files])


def split_images(r: Any, split: str, count: int) -> Images:
    """The first ``count`` images of the run's ``split``, with their labels, as its evaluation loader gives them."""
    import torch

    from .engine import make_loader

    dataset = getattr(r.bundle, split)
    if dataset is None:
        raise VislabError(f"dataset {r.cfg.data.name} has no {split} split in this run's configuration")
    inputs, labels = [], []
    for batch in make_loader(r.cfg, dataset, r.fabric, r.bundle, train=False, sharded=False).epoch(0):
        inputs.append(batch["image"].float().cpu())
        labels.append(batch["target"].cpu())
        if sum(len(x) for x in inputs) >= count:
            break
    x, y = torch.cat(inputs)[:count], torch.cat(labels)[:count]
    shown = (x * std_of(r) + mean_of(r)).clamp(0, 1) if r.cfg.aug.normalize else x.clamp(0, 1)
    return Images(x.to(r.fabric.device), shown, [f"{split}-{i:04d}" for i in range(len(x))], y)


def mean_of(r: Any) -> Any:
    import torch

    return torch.tensor(r.info.mean).view(1, -1, 1, 1)


def std_of(r: Any) -> Any:
    import torch

    return torch.tensor(r.info.std).view(1, -1, 1, 1)


def normalized(r: Any, images: Any) -> Any:
    """Images in [0, 1] normalized as training normalized them."""
    return (images - mean_of(r)) / std_of(r) if r.cfg.aug.normalize else images


def class_index(target: str, names: list[str], what: str) -> Optional[int]:
    """``--target``: None for predicted/true, else the class named (or numbered) ``target``."""
    if target in ("predicted", "true"):
        return None
    if target in names:
        return names.index(target)
    if target.isdigit() and int(target) < len(names):
        return int(target)
    close = difflib.get_close_matches(target, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise VislabError(f"--target {target}: not a {what} of this run; {hint}give predicted, true or one of {', '.join(names)}")


def run_explainer(run: str | Path, checkpoint: str, layer: Optional[str], head: str, with_data: bool) -> tuple[Any, Explainer]:
    """The run restored with its ``checkpoint``, and its model's Explainer."""
    from .inference import restore

    r = restore(run, checkpoint, with_data=with_data)
    names = list(r.info.domains or []) if head == "domain" else list(r.info.class_names)
    return r, explainer_for(r.model, names, r.task.per_pixel, layer, head)


def explained(run: str | Path, inputs: list[str | Path], methods: list[str], target: str, checkpoint: str,
              layer: Optional[str], head: str, out: Optional[str | Path], split: Optional[str], count: int) -> tuple:
    """What explain and check both start from, options checked first: (restored run, explainer, images, output
    folder, CAM targets)."""
    check_options(methods, head, split, count, [str(i) for i in inputs], target)
    require_library()
    from .data.files.images import image_files
    from .outputs import out_folder

    files = image_files(inputs) if inputs else []
    r, e = run_explainer(run, checkpoint, layer, head, with_data=split is not None)
    chosen = class_index(target, e.names, "domain" if head == "domain" else "class")
    images = split_images(r, split, count) if split else file_images(r, files)
    folder = out_folder(Path(out).expanduser() if out else r.run.dir / "explain")
    return r, e, images, folder, targets_for(e.model, images, e.per_pixel, chosen, target == "true")


def explain(
    run: str | Path, inputs: list[str | Path], *, methods: list[str], target: str = "predicted", checkpoint: str = "best",
    layer: Optional[str] = None, head: str = "class", out: Optional[str | Path] = None, split: Optional[str] = None,
    count: int = 8,
) -> list[dict[str, Any]]:
    """Class-activation maps of a run's model for image files (or the first ``count`` images of its ``split``):
    per image and method, OUT/<name>_<method>.png (the image beside it with the map laid over, captioned with
    the prediction, its probability and the class explained) and OUT/<name>_<method>_map.png (the map alone,
    8-bit grey, at the model input's size). OUT is RUN_DIR/explain by default. Returns a row per image and method.
    """
    r, e, images, folder, targets = explained(run, inputs, methods, target, checkpoint, layer, head, out, split, count)
    rows = []
    for method in methods:
        maps = cam_maps(e.model, e.layer, e.channels_last, method, images, targets.cam)
        for i, name in enumerate(images.names):
            caption = (f"{name}: predicted {e.names[targets.predicted[i]]} ({targets.probability[i]:.2f}); "
                       f"{method} map of {e.names[targets.classes[i]]} at {e.layer_name}")
            if maps[i].max() == 0:  # the library scales maps to [0, 1]: a zero one says nothing, and should say so
                caption += " (empty: no part of the layer raises the score)"
            paths = save_overlay(folder, f"{name}_{method}", images.shown[i], maps[i], caption)
            rows.append({"image": name, "method": method, **{k: str(v) for k, v in paths.items()}, "summary": caption})
    return rows


def save_overlay(folder: Path, stem: str, image: Any, cam: Any, caption: str) -> dict[str, Path]:
    """FOLDER/<stem>.png: ``image`` float [C, H, W] in [0, 1] beside it with ``cam`` [H, W] laid over, captioned;
    FOLDER/<stem>_map.png: ``cam`` alone as 8-bit grey."""
    import numpy as np
    from PIL import Image

    from .viz import _figure, to_display

    shown = to_display(image)
    paths = {"overlay": folder / f"{stem}.png", "map": folder / f"{stem}_map.png"}
    Image.fromarray((np.clip(cam, 0, 1) * 255).round().astype(np.uint8)).save(paths["map"])
    fig = _figure(6, 3.4)
    for k, with_map in enumerate((False, True)):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.imshow(shown, interpolation="nearest")
        if with_map:
            ax.imshow(cam, cmap="jet", alpha=0.5, vmin=0, vmax=1, interpolation="bilinear")
        ax.axis("off")
    fig.suptitle(caption, fontsize=8, wrap=True)
    fig.savefig(paths["overlay"], dpi=100, bbox_inches="tight")
    return paths


def rank_correlation(a: Any, b: Any) -> float:
    """Spearman's rank correlation of two maps [H, W]; 0 where either is constant (it ranks nothing)."""
    import numpy as np
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def inside_outside(maps: Any, labels: Any, classes: list[int], ignore_index: int) -> float:
    """The mean of ``maps`` [B, H, W] over the pixels labelled with each image's explained class, divided by
    their mean over the other labelled pixels, pooled over the images (NaN where either set is empty)."""
    import numpy as np

    labels = labels.numpy()
    k = np.asarray(classes).reshape(-1, 1, 1)
    inside, outside = labels == k, (labels != k) & (labels != ignore_index)
    if not inside.any() or not outside.any():
        return float("nan")
    return float(maps[inside].mean() / max(float(maps[outside].mean()), 1e-12))


def check(
    run: str | Path, inputs: list[str | Path], *, methods: list[str], target: str = "predicted", checkpoint: str = "best",
    layer: Optional[str] = None, head: str = "class", out: Optional[str | Path] = None, split: Optional[str] = None,
    count: int = 8,
) -> dict[str, dict[str, Any]]:
    """Whether each method's maps can be trusted on these images, per method:

    - ``randomization``: the mean Spearman rank correlation between the maps of the run's model and those of the
      same architecture with freshly initialized weights, for the same classes (Adebayo et al., 2018); maps that
      barely change explain the architecture, not what was learned. Passes below RANDOMIZATION_LIMIT.
    - ``deletion`` and ``deletion_random``: ROAD (Rong et al., 2022, pytorch_grad_cam.metrics.road) removing the
      most relevant 10%, 20%, ... 90% of pixels by the map, and by a random map: the mean change of the class
      probability, the area under the deletion curve. Passes when the map's is lower (its pixels matter more).
    - ``inside_outside`` (per-pixel runs, images of the run's split): the maps' mean over the explained class's
      labelled pixels over their mean over the other labelled pixels, pooled over the images.

    ``passed`` and ``failures`` say the verdict. Written to OUT/check.json (OUT: RUN_DIR/explain by default).
    """
    r, e, images, folder, targets = explained(run, inputs, methods, target, checkpoint, layer, head, out, split, count)
    import numpy as np
    import torch
    from pytorch_grad_cam.metrics.road import ROADMostRelevantFirstAverage

    from .atomic import atomic_write_text
    torch.manual_seed(CHECK_SEED)
    fresh = explainer_for(r.task.build_model(r.cfg, r.info).to(r.fabric.device).eval(), e.names, e.per_pixel, layer, head)
    road = ROADMostRelevantFirstAverage()
    noise = np.random.default_rng(CHECK_SEED).random((len(images.names), *images.inputs.shape[-2:])).astype(np.float32)
    deletion_random = float(road(images.inputs, noise, targets.road, e.model).mean())
    results = {}
    for method in methods:
        maps = cam_maps(e.model, e.layer, e.channels_last, method, images, targets.cam)
        fresh_maps = cam_maps(fresh.model, fresh.layer, fresh.channels_last, method, images, targets.cam)
        result = {
            "images": len(images.names),
            "randomization": float(np.mean([rank_correlation(a, b) for a, b in zip(maps, fresh_maps)])),
            "deletion": float(road(images.inputs, maps, targets.road, e.model).mean()),
            "deletion_random": deletion_random,
        }
        if e.per_pixel and images.labels is not None:
            result["inside_outside"] = inside_outside(maps, images.labels, targets.classes, r.info.ignore_index)
        failures = []
        if result["randomization"] >= RANDOMIZATION_LIMIT:
            failures.append(f"maps of a re-initialized model rank pixels alike (rank correlation {result['randomization']:.2f})")
        if result["deletion"] >= deletion_random:
            failures.append("removing its most relevant pixels lowers the class probability no more than a random map's")
        results[method] = {**result, "passed": not failures, "failures": failures}
    atomic_write_text(folder / "check.json", json.dumps({"layer": e.layer_name, "target": target, "methods": results}, indent=2) + "\n")
    return results


def check_table(results: dict[str, dict[str, Any]]) -> str:
    """The check's results as a table, a line per method, each failing method flagged with its reasons."""
    dense = any("inside_outside" in r for r in results.values())
    header = f"{'method':<14}{'randomization':>14}{'deletion':>10}{'random map':>12}" + (f"{'inside/outside':>16}" if dense else "") + "  verdict"
    lines = [header]
    for method, r in results.items():
        line = f"{method:<14}{r['randomization']:>14.3f}{r['deletion']:>10.4f}{r['deletion_random']:>12.4f}"
        if dense:
            line += f"{r.get('inside_outside', float('nan')):>16.2f}"
        lines.append(line + ("  ok" if r["passed"] else "  FAILS: " + "; ".join(r["failures"])))
    images = next(iter(results.values()))["images"]
    lines.append(f"{images} images. randomization: rank correlation with a re-initialized model's maps (fails at "
                 f">= {RANDOMIZATION_LIMIT}); deletion: ROAD, mean change of the class probability with the most relevant "
                 "10-90% of pixels removed (lower is more faithful; fails unless below the random map's)")
    return "\n".join(lines)
