"""data.sampler=domain_balanced: equal shares of the training domains in every batch (Dassl's
RandomDomainSampler), drawn from (seed, epoch) so that any batch can be rebuilt on resume."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from vislab.config import resolve
from vislab.data import Loader, bootstrapped, build
from vislab import tasks
from vislab.data.loading.domain_balanced import DomainBalancedSampler
from vislab.errors import VislabError

# 3 domains of 40, 12 and 25 samples, interleaved
DOMAINS = torch.tensor([0] * 40 + [1] * 12 + [2] * 25)[torch.randperm(77, generator=torch.Generator().manual_seed(1))]


def batches(batch_size: int, epoch: int = 0, start: int = 0, rank: int = 0, world_size: int = 1, **kw) -> list[list[int]]:
    sampler = DomainBalancedSampler(77, batch_size, domains=DOMAINS, shuffle=True, seed=5, rank=rank,
                                    world_size=world_size, drop_last=True, **kw)
    sampler.set_epoch(epoch, start)
    out = [[i for i, _ in batch] for batch in sampler]
    assert len(out) == len(sampler) - start
    return out


def test_every_batch_holds_each_training_domain_equally_and_no_sample_twice():
    epoch = batches(6)
    assert len(epoch) == 6  # the 12 samples of domain 1, two per batch
    for batch in epoch:
        assert Counter(DOMAINS[batch].tolist()) == {0: 2, 1: 2, 2: 2}
    every = [i for b in epoch for i in b]
    assert len(every) == len(set(every)) == 36


def test_domains_per_batch_picks_that_many_domains_per_batch():
    epoch = batches(4, per_batch=2)
    for batch in epoch:
        shares = Counter(DOMAINS[batch].tolist())
        assert len(shares) == 2 and set(shares.values()) == {2}
    assert len({tuple(sorted(set(DOMAINS[b].tolist()))) for b in epoch}) > 1  # the pair changes


def test_batches_come_from_seed_and_epoch_and_a_resumed_epoch_continues():
    assert batches(6, epoch=1) == batches(6, epoch=1) != batches(6, epoch=2)
    assert batches(6, epoch=1, start=4) == batches(6, epoch=1)[4:]
    ranks = [batches(6, epoch=1, rank=r, world_size=2) for r in range(2)]
    assert ranks[0] + ranks[1] != [] and len(ranks[0]) == len(ranks[1]) == 3
    assert not {i for b in ranks[0] for i in b} & {i for b in ranks[1] for i in b}  # ranks take different batches


@pytest.mark.parametrize("batch_size, kw, message", [
    (5, {}, "train.batch_size=5 does not split into 3 equal domain shares; make it a multiple of 3"),
    (4, {"per_batch": 4}, "data.domains_per_batch=4: the training split has 3 domains"),
    (39, {}, "training domain 1 has fewer than the 13 samples each batch takes"),
])
def test_impossible_batches_are_bad_input(batch_size, kw, message):
    with pytest.raises(VislabError, match=message):
        DomainBalancedSampler(77, batch_size, domains=DOMAINS, shuffle=True, **kw)


def test_the_bundle_carries_the_sampler_to_the_loader_and_other_data_refuse_it():
    cfg = resolve("digits-dg", {"data.sampler": "domain_balanced", "data.in_memory": True})
    bundle = build(cfg.data, cfg.aug)
    loader = Loader(bundle.train, 12, device=torch.device("cpu"), train=True, sampler=bundle.train_sampler)
    for batch in loader.epoch(0):
        assert Counter(batch["domain"].tolist()) == {1: 4, 2: 4, 3: 4}  # lodo: domain 0 is tested on
    assert tasks.build(cfg, bundle.info).train_sampler(bundle) is bundle.train_sampler  # what the engine uses
    digits = resolve("digits", {"data.sampler": "domain_balanced"})
    with pytest.raises(VislabError, match="data.sampler=domain_balanced draws equally from the domains, which data.name=digits"):
        tasks.build(digits, build(digits.data, digits.aug).info)
    stray = resolve("digits-dg", {"data.domains_per_batch": 2})
    with pytest.raises(VislabError, match="data.domains_per_batch applies only with data.sampler=domain_balanced"):
        tasks.build(stray, bundle.info)


@pytest.mark.parametrize("keys", [
    {"data.labeled_fraction": 0.5, "semisup.method": "mean_teacher"},  # drew indices of the whole split: IndexError
    {"data.bootstrap": True},  # balanced the domains of the samples before the bag was drawn
    {"data.labeled_fraction": 0.5, "data.bootstrap": True, "data.in_memory": False},  # per-sample subsets carry domains
])
def test_balanced_batches_are_drawn_from_the_split_that_trains(keys):
    cfg = resolve("digits-dg", {"data.sampler": "domain_balanced", "data.limit": 120, **keys})
    bundle = bootstrapped(build(cfg.data, cfg.aug), cfg.data, seed=3)
    loader = Loader(bundle.train, 12, device=torch.device("cpu"), train=True, sampler=bundle.train_sampler)
    steps = list(loader.epoch(0))
    assert steps
    for batch in steps:
        assert Counter(batch["domain"].tolist()) == {1: 4, 2: 4, 3: 4}


def test_crossdomain_mixstyle_needs_two_domains_per_balanced_batch():
    from vislab.data.bundle import DataInfo
    from vislab.tasks.domain_generalization import DomainGeneralizationTask

    cfg = resolve("digits-dg-mixstyle", {"model.mixstyle.mix": "crossdomain", "data.sampler": "domain_balanced",
                                         "data.domains_per_batch": 1})
    info = DataInfo("domain_generalization", 10, [str(i) for i in range(10)], 3, [0.5] * 3, [0.2] * 3, domains=list("abcd"))
    with pytest.raises(VislabError, match="crossdomain needs two domains per batch: set data.domains_per_batch=2"):
        DomainGeneralizationTask(cfg, info)


@pytest.mark.slow
def test_a_resumed_domain_balanced_run_ends_with_the_same_weights(tmp_path):
    import vislab
    from vislab.engine import load_checkpoint

    settings = {"data.sampler": "domain_balanced", "data.limit": 60, "train.batch_size": 12, "train.limit_batches": 3,
                "train.deterministic": True, "sched.name": "none", "train.progress": False}
    straight = vislab.train("digits-dg", runs_dir=tmp_path / "a", **settings, **{"train.epochs": 2})
    halted = vislab.train("digits-dg", runs_dir=tmp_path / "b", **settings, **{"train.epochs": 1})
    resumed = vislab.train(resume=halted.dir, **{"train.epochs": 2})
    a, b = (load_checkpoint(r.dir / "checkpoints" / "last.pt")["model"] for r in (straight, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
