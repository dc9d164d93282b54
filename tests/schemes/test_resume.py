"""FixMatch and Noisy Student killed mid-epoch and resumed end bit-identical to the run never stopped: the
unlabeled stream, the strong views and Noisy Student's checkpointed pseudo-labels continue where they were
(Mean Teacher's twin is in tests/engine/test_resume_exact.py, whose kill-and-resume helpers these reuse)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.test_resume_exact import SETTINGS, assert_identical, checkpoint, finished, killed_mid_epoch_and_resumed, run_dir_of, start

# 40 labeled images (5 steps an epoch) beside an unlabeled pool of 160 in batches of 24 (6 an epoch, so the
# streams' epochs end at different steps); threshold 0 so that every pseudo-label is taught.
SEMISUP = [*SETTINGS[1:], "train.epochs=2", "data.limit=200", "data.labeled_per_class=4", "semisup.ratio=3",
           "semisup.threshold=0.0", "train.checkpoint_every_steps=4"]


def resumed_and_reference(tmp_path: Path, *settings: str) -> tuple[Path, Path]:
    """The run killed mid-epoch and resumed, and the same run never stopped (trained beside it)."""
    reference_runs = tmp_path / "reference"
    proc = start("train", "--runs-dir", reference_runs, "digits", *settings)
    run = killed_mid_epoch_and_resumed(tmp_path / "runs", *settings)
    finished(proc)
    return run, run_dir_of(reference_runs)


@pytest.mark.slow
def test_fixmatch_resumes_its_unlabeled_stream_and_strong_views_bit_identical(tmp_path: Path) -> None:
    run, reference = resumed_and_reference(tmp_path, *SEMISUP, "semisup.method=fixmatch")
    assert_identical(run, reference)


@pytest.mark.slow
def test_noisy_student_resumes_its_pseudo_labels_bit_identical(tmp_path: Path, teacher_run: Path) -> None:
    run, reference = resumed_and_reference(tmp_path, *SEMISUP, "semisup.method=noisy_student", f"semisup.teacher={teacher_run}")
    labels = checkpoint(run, "last")["extra_models"]["pseudo_labels"]
    assert bool(labels["ready"]) and labels["weights"].sum() > 0  # the pool was labeled, and that is what resumed
    assert_identical(run, reference)
