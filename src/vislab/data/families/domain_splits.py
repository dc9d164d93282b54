"""What domain-generalization datasets share: the two protocols, the bundle's domain facts, and the
training batches that MixStyle's cross-domain mixing needs.

Every sample carries a class id (``target``) and a domain id (``domain``, int64). ``data.protocol``:

- ``mixed`` pools the domains and holds out validation (and test, ``data.test_fraction``) with a seeded
  split stratified by (domain, class);
- ``lodo`` (leave one domain out) tests on ``data.test_domain`` (default: the first domain) and trains on
  the others, validating on a seeded, (domain, class)-stratified held-out part of the training domains.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ...config import DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from ..loading.sampling import EpochBatchSampler
from ..loading.seeding import mix_seed
from ..loading.splits import limited, stratified_split


def held_out_domain(cfg: DataConfig, domains: Sequence[str]) -> int:
    """The left-out domain's id under lodo; a name that is not a domain is bad input."""
    if cfg.test_domain is None:
        return 0
    if cfg.test_domain not in domains:
        raise VislabError(
            f"data.test_domain='{cfg.test_domain}' is not a domain of {cfg.name}; domains are {', '.join(domains)}"
        )
    return list(domains).index(cfg.test_domain)


def protocol_split(cfg: DataConfig, classes: Sequence[int], domains: Sequence[int], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Indices of "train", "val" and (when not empty) "test" under ``data.protocol``, each shuffled by
    ``data.split_seed`` and cut to ``data.limit``. ``classes`` and ``domains`` are per-sample ids."""
    classes, domains = np.asarray(classes, dtype=np.int64), np.asarray(domains, dtype=np.int64)
    if cfg.protocol == "mixed":
        strata = list(zip(domains.tolist(), classes.tolist()))
        train, val, test = stratified_split(strata, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    else:
        held = held_out_domain(cfg, names)
        pool = np.flatnonzero(domains != held)
        if len(pool) == 0 or not (domains == held).any():
            raise VislabError(f"data.protocol=lodo needs samples in domain {names[held]} and in at least one other")
        strata = list(zip(domains[pool].tolist(), classes[pool].tolist()))
        train, val, _ = stratified_split(strata, cfg.val_fraction, 0.0, cfg.split_seed)
        train, val = pool[train], pool[val]
        test = np.random.default_rng(cfg.split_seed).permutation(np.flatnonzero(domains == held))
    parts = {"train": train, "val": val, "test": test}
    return {k: limited(v, cfg.limit) for k, v in parts.items() if k != "test" or len(v)}


def domain_bundle(bundle: DataBundle, domains: Sequence[str]) -> DataBundle:
    """Mark a bundle whose splits carry ``domain`` labels as domain-generalization data over ``domains``."""
    bundle.info.task = "domain_generalization"
    bundle.info.domains = list(domains)
    return bundle


class DomainBatchSampler(EpochBatchSampler):
    """Training batches that each hold two domains, about half from each: every process's batch then has
    a partner from another domain for every sample (MixStyle's ``crossdomain`` mixing).

    Every batch of every rank draws two distinct domains and fills its halves from per-domain queues,
    each queue a permutation of its domain's samples drawn anew when it runs out. All draws come from a
    generator seeded with (seed, epoch), so the batches depend only on the seed, the epoch and the step,
    and every rank computes the same arrangement and takes its own batches. An epoch has as many steps
    as there are whole batches of ``batch_size`` x ``world_size`` samples (at least one).
    """

    def __init__(self, size: int, batch_size: int, *, domains: torch.Tensor, **kwargs) -> None:
        super().__init__(size, batch_size, **kwargs)
        self.domains = torch.as_tensor(domains).cpu()
        self.present = sorted(set(self.domains.tolist()))
        if len(self.present) < 2:
            raise VislabError(
                f"model.mixstyle.mix=crossdomain needs at least two domains in the training split, it has {len(self.present)}; "
                "use model.mixstyle.mix=random"
            )
        if batch_size < 2:
            raise VislabError("model.mixstyle.mix=crossdomain needs train.batch_size of at least 2")

    def indices(self) -> list[int]:
        g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
        members = {d: (self.domains == d).nonzero().flatten() for d in self.present}
        queues: dict[int, list[int]] = {d: [] for d in self.present}

        def take(d: int, n: int) -> list[int]:
            while len(queues[d]) < n:
                queues[d] += members[d][torch.randperm(len(members[d]), generator=g)].tolist()
            out, queues[d] = queues[d][:n], queues[d][n:]
            return out

        order: list[int] = []
        half = self.batch_size // 2
        for _ in range(max(1, self.size // (self.batch_size * self.world_size))):
            for rank in range(self.world_size):
                a, b = (self.present[int(i)] for i in torch.randperm(len(self.present), generator=g)[:2])
                batch = take(a, self.batch_size - half) + take(b, half)
                if rank == self.rank:
                    order += batch
        return order
