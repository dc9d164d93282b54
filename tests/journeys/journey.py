"""The journeys every task shares, as base classes a task's test file subclasses with its recipe and settings:
train -> runs -> eval (raw and EMA weights) -> predict a folder of image files -> export to ONNX -> eval and
predict with the exported file -> profile -> a second run with one change -> compare -> board. Every step is a
`vislab` subprocess with the default display; the steps of a class share one training (class-scoped fixtures)
and run in the order written; the fixtures are in conftest.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest

from journeys.user import (SHORT, User, best_epoch_row, board, check_class_predictions, check_compare, check_exported,
                           check_masks, check_trained, digit_photos, listed, predicted_rows, printed, same_masks,
                           shape_photos, summary)


class Journey:
    """What a subclass sets: the recipe and its overrides, the one setting the second run changes, and what a
    user then expects to see."""

    recipe: ClassVar[str]
    overrides: ClassVar[tuple[str, ...]] = SHORT
    change: ClassVar[str] = "optim.lr=0.01"  # the second run's one difference
    groups: ClassVar[tuple[str, str]]  # compare's group of the first run and of the second
    monitor: ClassVar[str]  # summary.json's best_metric
    metrics: ClassVar[tuple[str, ...]]  # what eval and the exported file must reproduce, without the split
    model: ClassVar[str]
    input: ClassVar[list[int]]

    @classmethod
    def train_first(cls, user: User) -> tuple[subprocess.CompletedProcess, Path]:
        """The run the journey follows: (its `vislab train` process, its directory)."""
        return user.train(cls.recipe, *cls.overrides)

    @classmethod
    def train_second(cls, user: User, run: Path) -> Path:
        """The run compared with it."""
        return user.train(cls.recipe, *cls.overrides, cls.change)[1]

    @classmethod
    def write_photos(cls, folder: Path) -> list[Path]:
        """The image files a user predicts on."""
        raise NotImplementedError

    def test_train_shows_progress_and_writes_a_complete_run(self, trained) -> None:
        proc, run = trained
        done = check_trained(proc, run)
        assert done["best_metric"] == self.monitor and 0 <= done["best_value"] <= 1

    def test_runs_lists_it(self, user: User, run: Path) -> None:
        listed(user, run)

    def test_eval_reproduces_the_run_metrics_with_raw_and_ema_weights(self, user: User, run: Path) -> None:
        best = best_epoch_row(run)
        raw = printed(user.ok("eval", run).stdout)
        ema = printed(user.ok("eval", run, "--weights", "ema").stdout)
        for metric in self.metrics:
            assert raw[f"val_{metric}"] == pytest.approx(best[f"val_{metric}"], abs=1e-4)
            assert ema[f"val_{metric}"] == pytest.approx(best[f"val_ema_{metric}"], abs=1e-4)
        saved = json.loads((run / "eval_val_best_ema.json").read_text())
        assert saved[f"val_{self.metrics[0]}"] == pytest.approx(ema[f"val_{self.metrics[0]}"], abs=1e-4)

    def test_export_writes_a_checked_onnx_file(self, run: Path, exported: str) -> None:
        check = check_exported(run)
        assert f"wrote {run / 'export' / 'best.onnx'}" in exported and f"agreement {check['agreement']:.4f}" in exported

    def test_the_exported_file_evaluates_as_the_checkpoint(self, user: User, run: Path, exported: str) -> None:
        metrics = printed(user.ok("eval", run, "--exported", run / "export" / "best.onnx").stdout)
        for metric in self.metrics:
            assert metrics[f"val_{metric}"] == pytest.approx(best_epoch_row(run)[f"val_{metric}"], abs=1e-3)

    def test_profile_reports_size_flops_and_latency(self, user: User, run: Path, exported: str) -> None:
        report = json.loads(user.ok("profile", run, "--batch", "4", "--format", "json").stdout)
        assert report["model"] == self.model and report["input"] == self.input
        assert report["parameters"] == report["trainable"] > 10_000 and report["flops_per_image"] > 0
        for engine in ("eager", "onnxruntime"):
            assert set(report[engine]) == {"batch_1", "batch_4"}
            assert all(timing["latency_ms"] > 0 for timing in report[engine].values())

    def expected_groups(self, run: Path, second: Path) -> tuple[str, str]:
        """compare's group labels of the first run and of the second."""
        return self.groups

    def test_compare_two_runs_that_differ_in_one_setting(self, user: User, run: Path, second: Path) -> None:
        groups = self.expected_groups(run, second)
        out = check_compare(user, run, second, groups=list(groups))
        for group, run_dir in zip(groups, (run, second)):
            assert f"| {group} | 1 | {summary(run_dir)['best_value']:.4f} |" in out, out

    def test_board_serves_the_runs(self, user: User, run: Path, second: Path) -> None:
        experiment_id = run.parent.name
        page, listing, experiment = board(user, "/", "/api/experiments", f"/api/experiment?id={experiment_id}")
        assert "<title>vislab board</title>" in page
        assert listing == [{"id": experiment_id, "runs": 2, "running": 0}]
        assert experiment["metric"] == self.monitor
        groups = self.expected_groups(run, second)
        last = {g["label"]: g["mean"][-1] for g in experiment["groups"]}  # each curve ends at its last epoch
        assert last == pytest.approx({groups[0]: summary(run)["metrics"][self.monitor],
                                      groups[1]: summary(second)["metrics"][self.monitor]})
        table = {row[0]: row[1:3] for row in experiment["table"]["rows"]}  # the table holds the best epochs
        assert table == {group: ["1", f"{summary(run_dir)['best_value']:.4f}"]
                         for group, run_dir in zip(groups, (run, second))}


class ClassifierJourney(Journey):
    """Classification and domain generalization: predictions as a CSV, and calibration."""

    metrics = ("acc", "macro_f1")
    classes: ClassVar[set[str]] = {str(i) for i in range(10)}

    @classmethod
    def write_photos(cls, folder: Path) -> list[Path]:
        return digit_photos(folder)

    def test_predict_a_folder_of_image_files(self, photos: list[Path], eager_predictions: Path) -> None:
        check_class_predictions(eager_predictions, photos, self.classes)

    def test_the_exported_file_predicts_as_the_checkpoint(self, user: User, run: Path, exported: str,
                                                          photos: list[Path], eager_predictions: Path) -> None:
        out = user.home / "exported.csv"
        user.ok("predict", run, photos[0].parent, "--exported", run / "export" / "best.onnx", "--out", out)
        eager, onnx = predicted_rows(eager_predictions), check_class_predictions(out, photos, self.classes)
        for name, row in eager.items():
            assert onnx[name][0::2] == row[0::2]  # the same classes in the same order
            assert [float(p) for p in onnx[name][1::2]] == pytest.approx([float(p) for p in row[1::2]], abs=1e-4)

    def test_calibrate_fits_a_temperature_that_predict_then_uses(self, user: User, run: Path, photos: list[Path],
                                                                  eager_predictions: Path) -> None:
        out = user.ok("calibrate", run).stdout
        fitted = json.loads((run / "calibration.json").read_text())
        assert fitted["split"] == "val" and fitted["temperature"] > 0
        assert fitted["nll_after"] <= fitted["nll_before"]  # the temperature minimizes the validation NLL
        assert f"NLL {fitted['nll_before']:.4f} -> {fitted['nll_after']:.4f}" in out
        after = user.home / "calibrated.csv"
        user.ok("predict", run, photos[0].parent, "--out", after)
        before, calibrated = predicted_rows(eager_predictions), check_class_predictions(after, photos, self.classes)
        for name, row in before.items():
            assert calibrated[name][0] == row[0]  # dividing logits by a temperature keeps the top class
            assert float(calibrated[name][1]) != pytest.approx(float(row[1]), abs=1e-4)


class DenseJourney(Journey):
    """Segmentation and panoptic: masks and overlays per picture, test-time augmentation; calibration refused."""

    overrides = (*SHORT, "data.num_samples=48", "train.batch_size=8", "train.ema.decay=0.9")
    metrics = ("miou",)
    model = "unet"
    input = [3, 64, 64]
    panoptic: ClassVar[bool] = False
    tta: ClassVar[tuple[str, ...]] = ("eval.tta.flip=true", "eval.tta.scales=[0.75,1.0,1.25]")

    @classmethod
    def write_photos(cls, folder: Path) -> list[Path]:
        return shape_photos(folder)

    def test_eval_takes_test_time_augmentation(self, user: User, run: Path) -> None:
        tta = printed(user.ok("eval", run, *self.tta).stdout)
        saved = json.loads((run / "eval_val_best.json").read_text())
        assert saved["tta"] == {"flip": True, "scales": [0.75, 1.0, 1.25]}
        for metric in self.metrics:
            assert 0 <= tta[f"val_{metric}"] <= 1
            assert saved[f"val_{metric}"] == pytest.approx(tta[f"val_{metric}"], abs=1e-4)

    def test_predict_writes_a_mask_and_an_overlay_per_picture(self, eager_masks: dict[str, Any]) -> None:
        assert len(eager_masks) == 3

    def test_the_exported_file_predicts_as_the_checkpoint(self, user: User, run: Path, exported: str,
                                                          photos: list[Path], eager_masks: dict[str, Any]) -> None:
        out = user.home / "exported"
        user.ok("predict", run, photos[0].parent, "--exported", run / "export" / "best.onnx", "--out", out)
        same_masks(eager_masks, check_masks(out, photos, num_classes=4, panoptic=self.panoptic))

    def test_calibrate_is_refused_in_one_line(self, user: User, run: Path) -> None:
        proc = user.run("calibrate", run)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not (run / "calibration.json").exists()
