"""Classification as a user takes it: the embedded default `digits`, trained with an EMA, through every verb
(journey.py: train -> runs -> eval -> export -> eval --exported -> profile -> compare -> board; predict a
folder of PNG and JPEG files, predict --exported, calibrate)."""

from __future__ import annotations

from pathlib import Path

from journeys.journey import ClassifierJourney
from journeys.user import SHORT


class TestDigitsJourney(ClassifierJourney):
    recipe = "digits"
    overrides = (*SHORT, "train.ema.decay=0.9")
    groups = ("optim.lr=0.003", "optim.lr=0.01")
    monitor = "val_ema_acc"
    model = "cnn-mnist"
    input = [1, 8, 8]

    def test_train_writes_the_classification_artifacts(self, run: Path) -> None:
        assert {"confusion_matrix.png", "confusion_matrix.csv", "per_class.csv", "reliability.png",
                "misclassified.png"} <= {p.name for p in (run / "artifacts").iterdir()}

    def test_weights_beside_an_exported_file_are_refused_not_ignored(self, user, run: Path, exported: str) -> None:
        onnx = run / "export" / "best.onnx"
        for verb, args in (("eval", ["--weights", "ema"]), ("eval", ["--checkpoint", "last"]),
                           ("predict", [run / "splits", "--checkpoint", "last"])):
            proc = user.run(verb, run, *args, "--exported", onnx)
            assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
            assert "holds the weights it was exported with" in proc.stderr and args[-1] in proc.stderr
