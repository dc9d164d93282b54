"""Prediction from image files by a finished run, apart from the task that trained it: a task is training and
evaluation; a ``Predictor`` (inference.Restored.predictor) is what ``vislab predict`` writes, what an export's
check compares, and the calibration temperature ``vislab calibrate`` stored with the run.

Which predictor a run gets is the task's declaration: per-pixel tasks write mask PNGs into a folder
(``MaskPredictor``), the others the most probable classes of their class head as a CSV (``ClassPredictor``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import Config
from .data.files.images import prefetched
from .data.families.per_pixel import load_image
from .data_info import DataInfo
from .engine.layout import images_in_layout
from .tasks.base import Task
from .tasks.classification.predict import batch_preparer, write_predictions_csv
from .tasks.segmentation import labels
from .tasks.segmentation.predict import unique_stem
from .tasks.segmentation.task import as_outputs
from .threads import usable_cores
from .tta import classification_tta

PREDICT_BATCH = 64  # images per forward of a class predictor


class Predictor:
    """A restored run's ``task`` and ``model`` (eval mode, on ``device``) predicting from image files.

    ``folder``: whether it writes into a folder (RUN_DIR/predictions by default) rather than one file;
    ``options``: the keyword options ``predict_files`` takes (``vislab predict --topk``); ``temperature``
    divides class logits before the softmax (1: uncalibrated)."""

    folder: bool = False
    options: tuple[str, ...] = ()

    def __init__(self, task: Task, model: nn.Module, cfg: Config, info: DataInfo, device: torch.device,
                 temperature: float = 1.0) -> None:
        self.task, self.model, self.cfg, self.info, self.device = task, model, cfg, info, device
        self.temperature = temperature

    def predict_files(self, files: Sequence[Path], out: Optional[Path], **options: Any) -> list[dict[str, Any]]:
        """One dict per image with at least ``file`` and ``summary`` (a line to print); ``out`` gets the results."""
        raise NotImplementedError

    def decisions(self, outputs: Any) -> torch.Tensor:
        """What a user acts on among a model's outputs: a class per image [B], or per pixel [B, H, W]."""
        raise NotImplementedError

    def in_layout(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of images [B, C, H, W] in the memory layout the model runs in (engine.layout)."""
        return images_in_layout(images, self.cfg.train)


class ClassPredictor(Predictor):
    """The ``topk`` most probable classes of each image, from the task's class head (classification; domain
    generalization's class head)."""

    options = ("topk",)

    def decisions(self, outputs: Any) -> torch.Tensor:
        return self.task.class_logits(outputs).argmax(1)

    @torch.inference_mode()
    def predict_files(self, files: Sequence[Path], out: Optional[Path] = None, topk: int = 5) -> list[dict[str, Any]]:
        """``out`` gets them as CSV (file, class_1, prob_1, ..., class_k, prob_k). Images go through the run's
        evaluation pipeline; logits are averaged with the mirrored image's under ``eval.tta.flip`` and divided by
        the run's ``temperature``."""
        task, cfg, info, device = self.task, self.cfg, self.info, self.device
        files = list(files)
        k = min(topk, task.num_classes)
        chunks = [files[start : start + PREDICT_BATCH] for start in range(0, len(files), PREDICT_BATCH)]
        # Batches decode ahead in threads while the model runs: on a GPU one a core (up to 8), as decoding is
        # what it waits for; on a CPU in one thread where torch leaves a core free, else in line, as a decoding
        # thread only takes turns with torch's (measured for 1,000 digits on 2 cores: 52 ms in line against
        # 62-97 ms with the thread).
        cores = usable_cores()
        workers = min(8, cores) if device.type != "cpu" else int(torch.get_num_threads() < cores)
        batches = prefetched(chunks, batch_preparer(cfg.aug, info), ahead=max(1, workers), workers=workers)
        mean = torch.tensor(info.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(info.std, device=device).view(1, -1, 1, 1)
        forward = lambda x: task.class_logits(self.model(x))  # noqa: E731
        top: list[tuple[torch.Tensor, torch.Tensor]] = []
        for images in batches:
            x = images.to(device, non_blocking=True)
            if cfg.aug.normalize:
                x = (x - mean) / std
            x = self.in_layout(x)
            logits = classification_tta(forward, x, task.flip).float()
            top.append((logits / self.temperature).softmax(1).topk(k, 1))  # kept on the device: one transfer at the end
        rows: list[dict[str, Any]] = []
        probs = torch.cat([p for p, _ in top]).tolist() if top else []
        classes = torch.cat([c for _, c in top]).tolist() if top else []
        for f, p, c in zip(files, probs, classes):
            names = [task.class_names[i] for i in c]
            rows.append({"file": str(f), "classes": names, "probabilities": p,
                         "summary": ", ".join(f"{n} {q:.3f}" for n, q in zip(names, p))})
        if out is not None:
            write_predictions_csv(out, rows, k)
        return rows


class MaskPredictor(Predictor):
    """For each image file, the PNGs of the task's ``save_prediction`` (mask, overlay; panoptic: instances) in the
    folder ``out``, at the image's own size."""

    folder = True

    def decisions(self, outputs: Any) -> torch.Tensor:
        return labels(as_outputs(outputs)["out"])

    @torch.inference_mode()
    def predict_files(self, files: Sequence[Path], out: Optional[Path] = None) -> list[dict[str, Any]]:
        """Images are resized to ``aug.resize`` for the model when training did so. Files are decoded ahead and
        PNGs encoded behind by threads while the model runs (images differ in size: one at a time)."""
        task, model, device = self.task, self.model, self.device
        model.eval()
        stems: set[str] = set()
        names = [unique_stem(Path(path).stem, stems) for path in files]
        mean = torch.tensor(task.mean, device=device).view(1, -1, 1, 1) if task.mean is not None else None
        std = torch.tensor(task.std, device=device).view(1, -1, 1, 1) if task.std is not None else None

        def save(name: str, image: torch.Tensor, outputs: dict[str, torch.Tensor]) -> dict[str, Path]:
            with torch.inference_mode():  # grad mode is per thread
                return task.save_prediction(out, name, image, outputs)

        with ThreadPoolExecutor(2) as writers:
            saving = []
            for name, image in zip(names, prefetched(files, lambda p: load_image(p, task.channels))):
                x = image.to(device, non_blocking=True).float().div(255)[None]
                if mean is not None:
                    x = (x - mean) / std
                if task.resize is not None:
                    x = F.interpolate(x, size=task.resize, mode="bilinear", align_corners=False, antialias=True)
                x = self.in_layout(x)
                outputs = {k: v.cpu() for k, v in task.infer(model, x).items()}
                saving.append(writers.submit(save, name, image, outputs))
            written = [w.result() for w in saving]
        return [{"file": str(path), **{k: str(v) for k, v in w.items()}, "summary": ", ".join(str(v) for v in w.values())}
                for path, w in zip(files, written)]


def predictor_for(task: Task, model: nn.Module, cfg: Config, info: DataInfo, device: torch.device,
                  temperature: float = 1.0) -> Predictor:
    """The predictor of a restored run, as its task declares (``Task.per_pixel``)."""
    kind = MaskPredictor if task.per_pixel else ClassPredictor
    return kind(task, model, cfg, info, device, temperature)
