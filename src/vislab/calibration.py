"""Calibration of class probabilities: expected calibration error, reliability diagrams, and temperature
scaling (Guo et al. 2017) fitted on validation logits.

One binning serves the ``ece`` metric of every run (CalibrationError) and ``vislab calibrate``: Guo et al.'s
bins ((m-1)/M, m/M], so a confidence of exactly 1.0 is in the top bin. torchmetrics' MulticlassCalibrationError
bins [(m-1)/M, m/M) and gives 1.0 a bin of its own (the ECE of a set with some certain answers differs), and
keeps every sample's confidence where the sums of each bin are enough.

A run's fitted temperature is stored beside it in calibration.json (``vislab calibrate RUN``); predict and
ensemble divide the run's logits by it before the softmax.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .atomic import atomic_write_text
from .errors import VislabError
from .metric import Metric

BINS = 15  # equal-width confidence bins, as Guo et al. and torchmetrics' MulticlassCalibrationError use
CALIBRATION_FILE = "calibration.json"


@dataclass
class ReliabilityBins:
    """Per-bin counts [BINS], mean confidence [BINS] and accuracy [BINS] (nan where a bin is empty)."""

    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        """Expected calibration error: the count-weighted mean of |accuracy - confidence| over the bins."""
        seen = self.count > 0
        if not seen.any():
            return math.nan
        gaps = np.abs(self.accuracy[seen] - self.confidence[seen])
        return float((gaps * self.count[seen]).sum() / self.count.sum())


    @classmethod
    def from_sums(cls, count: torch.Tensor, confidence: torch.Tensor, correct: torch.Tensor) -> "ReliabilityBins":
        """From each bin's sample count, sum of confidences and number right [BINS] (bin_sums)."""
        mean = lambda v: torch.where(count > 0, v / count.clamp_min(1), torch.nan)  # noqa: E731
        return cls(count.cpu().numpy(), mean(confidence).cpu().numpy(), mean(correct).cpu().numpy())


def bin_sums(probs: torch.Tensor, target: torch.Tensor, bins: int = BINS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The top-1 confidence of probabilities [N, K] in ``bins`` equal-width bins ((m-1)/M, m/M] (a confidence
    on an edge goes to the lower bin, 1.0 to the top one): each bin's count, sum of confidences and number of
    right answers against class ids [N], float64 [bins]."""
    confidence, pred = probs.double().max(1)
    correct = (pred == target).double()
    which = (torch.ceil(confidence * bins).long() - 1).clamp(0, bins - 1)
    return (torch.bincount(which, minlength=bins).double(), torch.bincount(which, confidence, minlength=bins),
            torch.bincount(which, correct, minlength=bins))


def reliability_bins(probs: torch.Tensor, target: torch.Tensor, bins: int = BINS) -> ReliabilityBins:
    """Probabilities [N, K] against class ids [N] in ``bins`` confidence bins (bin_sums)."""
    return ReliabilityBins.from_sums(*bin_sums(probs, target, bins))


class CalibrationError(Metric):
    """The ``ece`` run metric: expected calibration error of probabilities [B, K] against class ids [B], over
    the bins of bin_sums, from per-bin sums (summed over processes)."""

    def __init__(self, bins: int = BINS) -> None:
        super().__init__()
        self.bins = bins
        for name in ("count", "confidence", "correct"):
            self.add_state(name, torch.zeros(bins, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, probs: torch.Tensor, target: torch.Tensor) -> None:
        for state, value in zip(("count", "confidence", "correct"), bin_sums(probs, target, self.bins)):
            setattr(self, state, getattr(self, state) + value)

    def value(self) -> torch.Tensor:
        return torch.tensor(ReliabilityBins.from_sums(self.count, self.confidence, self.correct).ece)


def expected_calibration_error(probs: torch.Tensor, target: torch.Tensor, bins: int = BINS) -> float:
    """ECE of probabilities [N, K] against class ids [N] (see ReliabilityBins.ece)."""
    return reliability_bins(probs, target, bins).ece


def fit_temperature(logits: torch.Tensor, target: torch.Tensor, steps: int = 100) -> float:
    """The temperature T > 0 minimising the cross-entropy of logits [N, K] / T against class ids [N], by
    L-BFGS on log T (so T stays positive), starting from T = 1."""
    logits, target = logits.detach().double(), target.detach()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), target)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


@dataclass
class Calibration:
    """A fitted temperature and what it changed on the split it was fitted on."""

    temperature: float
    split: str
    checkpoint: str
    samples: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float


def calibrate_logits(logits: torch.Tensor, target: torch.Tensor, split: str, checkpoint: str) -> Calibration:
    """Temperature scaling fitted on logits [N, K] and class ids [N], with NLL and ECE before and after."""
    t = fit_temperature(logits, target)
    logits = logits.double()
    return Calibration(
        temperature=t, split=split, checkpoint=checkpoint, samples=len(target),
        nll_before=float(F.cross_entropy(logits, target)), nll_after=float(F.cross_entropy(logits / t, target)),
        ece_before=expected_calibration_error(logits.softmax(1), target),
        ece_after=expected_calibration_error((logits / t).softmax(1), target),
    )


def save_calibration(run_dir: Path, calibration: Calibration) -> Path:
    """RUN_DIR/calibration.json."""
    path = Path(run_dir) / CALIBRATION_FILE
    atomic_write_text(path, json.dumps(asdict(calibration), indent=2) + "\n")
    return path


def run_temperature(run_dir: Path) -> float:
    """The temperature stored with a run by ``vislab calibrate``; 1.0 when it was never calibrated."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.exists():
        return 1.0
    try:
        t = float(json.loads(path.read_text())["temperature"])
    except (ValueError, KeyError, TypeError) as e:
        raise VislabError(f"{path} is damaged ({e}); run `vislab calibrate {run_dir}` again or delete it") from None
    if not t > 0:
        raise VislabError(f"{path}: temperature must be positive, not {t}; run `vislab calibrate {run_dir}` again")
    return t


def save_reliability_diagram(path: Path, bins: ReliabilityBins, title: str) -> Path:
    """Accuracy against confidence per bin (bars; the diagonal is perfect calibration), with each bin's
    share of samples below, and the ECE in the title."""
    from .viz import _figure

    n = len(bins.count)
    edges = np.linspace(0, 1, n + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, 1 / n
    fig = _figure(4.5, 5.5)
    top, bottom = fig.add_gridspec(2, 1, height_ratios=[3, 1]).subplots(sharex=True)
    accuracy = np.nan_to_num(bins.accuracy)
    top.bar(centers, accuracy, width=width, edgecolor="black", color="tab:blue", label="accuracy")
    gap = np.where(bins.count > 0, np.nan_to_num(bins.confidence) - accuracy, 0)
    top.bar(centers, gap, bottom=accuracy, width=width, edgecolor="tab:red", color="tab:red", alpha=0.3,
            label="gap to mean confidence")
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfectly calibrated")
    top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=f"{title}\nECE {bins.ece:.4f} ({n} bins)")
    top.legend(loc="upper left", fontsize=7)
    share = bins.count / max(1, bins.count.sum())
    bottom.bar(centers, share, width=width, edgecolor="black", color="gray")
    bottom.set(xlabel="confidence (top-1 probability)", ylabel="share of samples", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
