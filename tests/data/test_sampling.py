"""The data order: a function of (seed, epoch) only, sharded by rank, resumable at any step."""

from __future__ import annotations

import torch

from vislab.data.datasets import MemoryDataset
from vislab.data.loading.loader import Loader
from vislab.data.loading.sampling import EpochBatchSampler


def _flat(batches):
    return [i for b in batches for i, _ in b]


def test_order_depends_on_seed_and_epoch_only():
    a, b = (EpochBatchSampler(50, 8, shuffle=True, seed=3, drop_last=True) for _ in range(2))
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert _flat(a) != _flat(b)
    assert len(set(_flat(b))) == 48 == len(b) * 8  # the ragged tail of 2 is dropped in training
    assert set(_flat(b)) <= set(range(50))


def test_resuming_at_a_step_yields_the_remaining_batches():
    full = EpochBatchSampler(40, 6, shuffle=True, seed=1)
    full.set_epoch(4)
    later = EpochBatchSampler(40, 6, shuffle=True, seed=1)
    later.set_epoch(4, start_step=3)
    assert list(later) == list(full)[3:]


def test_ranks_split_training_evenly_and_evaluation_exactly():
    train = [EpochBatchSampler(11, 2, shuffle=True, seed=0, rank=r, world_size=2, drop_last=True) for r in range(2)]
    assert len(train[0]) == len(train[1]) == 3
    evals = [EpochBatchSampler(11, 4, shuffle=False, rank=r, world_size=2) for r in range(2)]
    seen = sorted(_flat(evals[0]) + _flat(evals[1]))
    assert seen == list(range(11))  # each sample once: metrics reduced over ranks count every sample once


def test_sample_seeds_do_not_depend_on_the_rank():
    single = {i: s for b in EpochBatchSampler(10, 10, shuffle=True, seed=5) for i, s in b}
    for r in range(2):
        for b in EpochBatchSampler(10, 5, shuffle=True, seed=5, rank=r, world_size=2):
            for i, s in b:
                assert single[i] == s


def test_memory_loader_normalizes_on_the_device():
    images = torch.full((4, 1, 2, 2), 255, dtype=torch.uint8)
    ds = MemoryDataset(images, torch.arange(4))
    loader = Loader(ds, 2, device=torch.device("cpu"), train=False, mean=[0.5], std=[0.25])
    batches = list(loader.epoch(0))
    assert len(batches) == 2
    assert torch.allclose(batches[0]["image"], torch.full((2, 1, 2, 2), 2.0))
    assert batches[1]["target"].tolist() == [2, 3] and batches[1]["index"].tolist() == [2, 3]
