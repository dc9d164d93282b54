"""`vislab sweep --seeds auto`: the rounds a plan asks for, from finished trials alone, and a real small sweep."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest

from vislab.experiments.sweep.autoseeds import auto_spec, look_lines, wanted_points
from vislab.experiments.sweep.claims import claim, prepare
from vislab.experiments.sweep.driver import next_round
from vislab.experiments.sweep.spec import build_spec
from vislab.experiments.sweep.storage import default_storage
from vislab.experiments.sweep.study import open_sweep
from vislab.experiments.sweep.space import SEED, Choice, Space
from vislab.runs import Run

SPACE = Space({"optim.lr": Choice((0.1, 0.2, 0.3)), SEED: Choice(tuple(range(5)))})
AUTO = auto_spec({"optim.lr": [0.1, 0.2, 0.3]}, max_seeds=5, baseline=None, min_effect=None)


def done(lr: float, seed: int, value: float) -> SimpleNamespace:
    return SimpleNamespace(state=SimpleNamespace(name="COMPLETE"), params={"optim.lr": lr, SEED: seed}, value=value)


def seeds_wanted(trials: list) -> dict[float, int]:
    out: dict[float, int] = {}
    for p in wanted_points(SPACE, AUTO, trials):
        out[p["optim.lr"]] = out.get(p["optim.lr"], 0) + 1
    return out


def test_every_point_starts_with_three_seeds_then_only_open_comparisons_grow():
    assert seeds_wanted([]) == {0.1: 3, 0.2: 3, 0.3: 3}
    trials = [done(0.1, s, 0.90 + 0.01 * s) for s in range(3)]  # the baseline (first value)
    # far worse, steadily (differences that vary a little: without spread a t-test cannot tell): decided at the first look
    trials += [done(0.2, s, v) for s, v in enumerate([0.50, 0.512, 0.52])]
    trials += [done(0.3, s, v) for s, v in enumerate([0.92, 0.89, 0.93])]  # about the same: open
    assert seeds_wanted(trials) == {0.1: 4, 0.2: 3, 0.3: 4}
    lines = look_lines(SPACE, AUTO, trials)
    assert "baseline optim.lr=0.1" in lines[0] and "O'Brien-Fleming" in lines[0] and "split over 2 comparisons" in lines[0]
    assert any(line.strip().startswith("optim.lr=0.2: different after 3 seeds") for line in lines)
    assert any(line.strip().startswith("optim.lr=0.3: open after 3 seeds") for line in lines)
    trials += [done(0.1, s, 0.91) for s in (3, 4)] + [done(0.3, s, 0.915) for s in (3, 4)]
    assert seeds_wanted(trials) == {0.1: 5, 0.2: 3, 0.3: 5}  # at --max-seeds: nothing more
    assert "undecided at --max-seeds after 5 seeds" in "\n".join(look_lines(SPACE, AUTO, trials))


def test_a_missing_seed_is_waited_for_not_skipped():
    trials = [done(0.1, s, 0.9) for s in (0, 2)] + [done(0.2, s, 0.5) for s in range(3)]
    assert seeds_wanted(trials)[0.1] == 3 and seeds_wanted(trials)[0.2] == 3  # seed 1 of the baseline first


@pytest.mark.parametrize("args, message", [
    (["optim.lr=1e-3,1e-2", "--seeds", "auto"], "needs --max-seeds N"),
    (["optim.lr=1e-3,1e-2", "--seeds", "auto", "--max-seeds", "2"], "--max-seeds must be at least 3"),
    (["--seeds", "auto", "--max-seeds", "5"], "give key=v1,v2"),
    (["optim.lr=1e-3,1e-2", "--seeds", "auto", "--max-seeds", "5", "--baseline", "optim.lr=0.5"], "not a point of the grid"),
    (["optim.lr=1e-3,1e-2", "--seeds", "3", "--max-seeds", "5"], "go with --seeds auto"),
    (["optim.lr=1e-3,1e-2", "--seeds", "many"], "--seeds takes a number or auto"),
])
def test_bad_auto_sweeps_exit_2_before_creating_anything(main, tmp_path, args, message):
    code, _, err = main("sweep", "digits", *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "runs" / "sweeps").exists()


@pytest.mark.parametrize("sgd, trials", [
    (lambda seed: 0.10 + 0.001 * seed, 6),  # far below the baseline: decided at the first look, 3 seeds each
    (lambda seed: 0.95 + 0.002 * seed + 0.01 * (-1) ** seed, 10),  # the same, give or take: open until --max-seeds 5
])
def test_a_real_study_queues_rounds_until_the_plan_decides(tmp_path, sgd, trials):
    """The sweep's own queueing, claiming and rounds on a real Optuna study; each trial's objective is told
    directly instead of trained (the training of a trial is tested in test_sweep)."""
    spec = build_spec("digits", {}, {"optim.name": ["adam", "sgd"]}, {}, seeds="auto", search="grid", trials=None,
                      prune=False, max_seeds=5)
    sweep = open_sweep("auto", tmp_path, default_storage(tmp_path), spec, resume=False)
    prepare(sweep)
    while True:
        trial = claim(sweep)
        if trial is None:
            if next_round(sweep):
                continue
            break
        values = sweep.space.suggest(trial)
        sweep.study.tell(trial, 0.95 + 0.002 * values[SEED] if values["optim.name"] == "adam" else sgd(values[SEED]))
    assert len(sweep.trials()) == trials and all(t.state.name == "COMPLETE" for t in sweep.trials())
    assert sweep.tally()["pending"] == 0 and sweep.planned() == trials


def test_a_search_with_seeds_scores_each_trial_by_its_mean_over_seeds(main, tmp_path):
    code, out, err = main("sweep", "digits", "optim.lr=loguniform(1e-3,1e-2)", "--search", "tpe", "--trials", "1",
                          "--seeds", "2", "train.epochs=1", "data.limit=100", "--runs-dir", tmp_path / "runs", "--name", "tpe")
    assert code == 0, err
    study = optuna.load_study(study_name="tpe", storage=f"sqlite:///{tmp_path / 'runs/sweeps/tpe/study.db'}")
    (trial,) = study.trials
    runs = [Run(d) for d in trial.user_attrs["run_dirs"]]
    assert [r.summary["seed"] for r in runs] == [0, 1]
    assert [r.dir.name.split("-", 2)[-1] for r in runs] == ["trial-0000-seed0", "trial-0000-seed1"]
    assert trial.value == pytest.approx(sum(r.summary["best_value"] for r in runs) / 2)
    assert {r.config.optim.lr for r in runs} == {trial.params["optim.lr"]}
