"""vislab's own classification metrics give scikit-learn's numbers (and torchmetrics' choices, which they replaced,
where the two differ: which classes a macro average counts); their states reduce over processes to what one process
seeing all the data computes. torchmetrics is not installed with vislab: Lightning Fabric imports it when present,
about 1.5 s of every process's start-up."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, top_k_accuracy_score

from vislab.calibration import CalibrationError
from vislab.tasks.classification.metrics import Accuracy, BalancedAccuracy, MacroF1
from vislab.tasks.domain_generalization import MeanAveragePrecision

C = 7


def ours() -> dict:
    return {"acc": Accuracy(), "top5": Accuracy(top_k=5), "balanced_acc": BalancedAccuracy(C), "macro_f1": MacroF1(C),
            "map": MeanAveragePrecision(C)}


def probabilities(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(n, C, generator=generator).mul(2).softmax(1)


def cases() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(probabilities [N, C], class ids [N]) that a run can meet."""
    g = torch.Generator().manual_seed(0)
    random = probabilities(90, g), torch.randint(0, C, (90,), generator=g)
    absent = probabilities(60, g), torch.randint(0, 4, (60,), generator=g)  # classes 4-6 never occur (yet predicted)
    tied = torch.randint(0, 3, (80, C), generator=g).float()  # few distinct scores: ties in the top-k and the ranking
    ties = tied / tied.sum(1, keepdim=True).clamp_min(1), torch.randint(0, C, (80,), generator=g)
    single_p = probabilities(40, g)
    single = single_p, torch.full((40,), 3)
    target = torch.randint(0, C, (50,), generator=g)
    wrong = torch.nn.functional.one_hot((target + 1) % C, C).float() * 0.9 + 0.1 / C, target  # every answer wrong
    return {"random": random, "absent classes": absent, "ties": ties, "a single class": single, "all wrong": wrong}


def reference(probs: torch.Tensor, target: torch.Tensor, top5: bool) -> dict[str, float]:
    """The five numbers from scikit-learn on all the data at once. Macro averages count the classes that occur in
    the targets or the predictions (torchmetrics' rule, which vislab keeps); mAP the classes with positives."""
    p, t = probs.double().numpy(), target.numpy()
    pred = p.argmax(1)
    present, seen = np.unique(t), np.union1d(np.unique(t), np.unique(pred))
    recalls = [(pred[t == c] == c).mean() if (t == c).any() else 0.0 for c in seen]
    expected = {"acc": accuracy_score(t, pred), "balanced_acc": float(np.mean(recalls)),
                "macro_f1": f1_score(t, pred, labels=seen, average="macro", zero_division=0),
                "map": float(np.mean(average_precision_score(np.eye(C)[t][:, present], p[:, present], average=None)))}
    if top5:
        expected["top5"] = top_k_accuracy_score(t, p, k=5, labels=range(C))
    return expected


@pytest.mark.parametrize("case", list(cases()))
def test_metrics_give_scikit_learns_numbers_over_several_updates(case):
    probs, target = cases()[case]
    mine = ours()
    for part in torch.tensor_split(torch.arange(len(target)), [7, 31]):  # three uneven batches
        for m in mine.values():
            m.update(probs[part], target[part])
    # ties at the fifth place (the tied scores; "all wrong" ties every class but its answer) have no one top-5
    expected = reference(probs, target, top5=case not in ("ties", "all wrong"))
    assert {name: float(mine[name].compute()) for name in expected} == pytest.approx(expected, abs=1e-6)


def test_map_of_a_split_holding_class_0_only_leaves_the_other_classes_out():
    """torchmetrics took "every target is class 0" for "no class has positives" and scored classes 1.. at 0:
    a split of one domain (the first) got a domain mAP of 1/D for a perfect head."""
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.6, 0.3, 0.1]])
    metric = MeanAveragePrecision(3)
    metric.update(probs, torch.zeros(3, dtype=torch.long))
    assert float(metric.compute()) == 1.0


def test_states_resume_from_a_state_dict_as_if_never_stopped():
    probs, target = cases()["random"]
    whole, first, resumed = ours(), ours(), ours()
    for name in whole:
        whole[name].update(probs, target)
        first[name].update(probs[:40], target[:40])
        resumed[name].load_state_dict(first[name].state_dict())
        resumed[name].update(probs[40:], target[40:])
        assert float(resumed[name].compute()) == float(whole[name].compute())
        resumed[name].reset()
        assert torch.isnan(resumed[name].compute()) if name == "map" else float(resumed[name].compute()) == 0.0


def _feed_share(rank: int, folder) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{folder / 'rendezvous'}", rank=rank, world_size=2)
    probs, target = cases()["random"]
    share = slice(0, 33) if rank == 0 else slice(33, None)  # shares of different lengths: "cat" states pad
    metrics = {**ours(), "ece": CalibrationError()}
    for m in metrics.values():
        m.update(probs[share], target[share])
    results = {name: (float(m.compute()), float(m.value())) for name, m in metrics.items()}
    fed_on_one = MeanAveragePrecision(C)  # a process fed nothing (no trained domain in its share) still takes part
    if rank == 0:
        fed_on_one.update(probs[share], target[share])
    results["map fed on rank 0 only"] = float(fed_on_one.compute())
    torch.save(results, folder / f"{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_processes_reduce_sum_and_cat_states_to_the_values_of_one_process_seeing_all(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_feed_share, args=(tmp_path,), nprocs=2)
    probs, target = cases()["random"]
    alone, first = {**ours(), "ece": CalibrationError()}, {**ours(), "ece": CalibrationError()}
    for name in alone:
        alone[name].update(probs, target)
        first[name].update(probs[:33], target[:33])
    results = [torch.load(tmp_path / f"{rank}.pt") for rank in (0, 1)]
    for name in alone:
        assert results[0][name][0] == results[1][name][0] == pytest.approx(float(alone[name].compute()), abs=1e-6), name
        assert results[0][name][1] == float(first[name].compute()), name  # value(): this process's own, after compute()
    assert results[0]["map fed on rank 0 only"] == results[1]["map fed on rank 0 only"] == float(first["map"].compute())


def test_a_mid_epoch_checkpoint_of_torchmetrics_days_resumes_its_accuracy():
    """A checkpoint taken mid-epoch before vislab kept its own metrics holds the states of torchmetrics 1.x's
    MulticlassAccuracy(average="micro"): counts over all classes, tp, fp, tn and fn."""
    from vislab.tasks.metrics import MetricSet

    probs, target = cases()["random"]
    correct = int((probs[:40].argmax(1) == target[:40]).sum())
    old = {"tp": correct, "fp": 40 - correct, "tn": 40 * (C - 1) - (40 - correct), "fn": 40 - correct}
    resumed = MetricSet({"acc": Accuracy()})
    resumed.load_state_dict({f"acc.{k}": torch.tensor(v) for k, v in old.items()})
    resumed.update(probs[40:], {"target": target[40:]})
    whole = Accuracy()
    whole.update(probs, target)
    assert resumed.compute() == {"acc": float(whole.compute())}
