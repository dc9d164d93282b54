"""Domain-generalization data: Office-Home in its real layout, digits-dg, both protocols, and the batches
that cross-domain MixStyle needs."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import torch

from formats import OFFICEHOME_DOMAINS, write_officehome
from vislab.config import resolve
from vislab.data import Loader, MemoryDataset, build
from vislab.data.families.domain_splits import DomainBatchSampler
from vislab.errors import VislabError

CLASSES = {"Bike": 5, "Calculator": 5, "Mug": 5}  # per domain: 60 JPEGs in all


def officehome(data_root: Path, **overrides):
    cfg = resolve("officehome-erm", {"data.root": str(data_root), **overrides})
    return build(cfg.data, cfg.aug)


def domain_of(path: str) -> str:
    return path.split("/")[0].replace(" ", "_")


def test_mixed_pools_every_domain_with_a_split_stratified_by_domain_and_class(tmp_path):
    write_officehome(tmp_path, CLASSES)
    bundle = officehome(tmp_path, **{"data.val_fraction": 0.4, "data.test_fraction": 0.2})
    info = bundle.info
    assert info.task == "domain_generalization" and info.domains == list(OFFICEHOME_DOMAINS)
    assert info.class_names == sorted(CLASSES) and info.image_size == (224, 224) and info.channels == 3
    files = bundle.files
    assert sorted(files["train"] + files["val"] + files["test"]) == sorted(
        f"{d}/{c}/{i}.jpg" for d in OFFICEHOME_DOMAINS for c in CLASSES for i in range(5))
    for split, share in (("train", 2), ("val", 2), ("test", 1)):  # of the 5 images of every (domain, class)
        strata = Counter((domain_of(f), f.split("/")[1]) for f in files[split])
        assert set(strata.values()) == {share} and len(strata) == 12
    sample = bundle.train[(0, 0)]  # images of several sizes: read one by one from disk
    assert info.domains[sample["domain"]] == domain_of(files["train"][0])
    assert info.class_names[sample["target"]] == files["train"][0].split("/")[1]
    assert officehome(tmp_path, **{"data.val_fraction": 0.4, "data.test_fraction": 0.2}).files == files  # seeded


def test_lodo_tests_on_the_left_out_domain_and_validates_on_the_others(tmp_path):
    write_officehome(tmp_path, CLASSES, real_world="Real World")  # as the official archive names it
    bundle = officehome(tmp_path, **{"data.protocol": "lodo", "data.test_domain": "Clipart", "data.val_fraction": 0.2})
    files = bundle.files
    assert sorted(files["test"]) == sorted(f"Clipart/{c}/{i}.jpg" for c in CLASSES for i in range(5))
    assert {domain_of(f) for f in files["train"] + files["val"]} == {"Art", "Product", "Real_World"}
    assert Counter(domain_of(f) for f in files["val"]) == {"Art": 3, "Product": 3, "Real_World": 3}  # 1 per class
    assert len(files["train"]) == 36
    loader = Loader(bundle.test, 8, device=torch.device("cpu"), train=False, num_workers=0)
    batch = next(loader.epoch(0))
    assert batch["domain"].dtype == torch.int64 and batch["domain"].tolist() == [1] * 8
    assert batch["image"].shape == (8, 3, 224, 224)
    default = officehome(tmp_path, **{"data.protocol": "lodo"})
    assert {domain_of(f) for f in default.files["test"]} == {"Art"}  # the first domain by default


def test_domain_mistakes_are_bad_input(tmp_path, main):
    write_officehome(tmp_path, CLASSES)
    with pytest.raises(VislabError, match="data.test_domain='Photo' is not a domain of officehome; domains are Art, Clipart"):
        officehome(tmp_path, **{"data.protocol": "lodo", "data.test_domain": "Photo"})
    named = officehome(tmp_path, **{"data.test_domain": "Clipart"})  # naming a held-out domain selects lodo
    assert {domain_of(f) for f in named.files["test"]} == {"Clipart"}
    (tmp_path / "OfficeHome" / "Product" / "Mug" / "0.jpg").unlink()
    for f in (tmp_path / "OfficeHome" / "Product" / "Mug").iterdir():
        f.unlink()
    (tmp_path / "OfficeHome" / "Product" / "Mug").rmdir()
    with pytest.raises(VislabError, match="Product lacks the class Mug that domain Art has; .*data.allow_missing_classes=true"):
        officehome(tmp_path)


def test_offline_office_home_says_where_to_get_it_and_where_to_put_it(main, tmp_path):
    code, out, err = main("train", "officehome-mixstyle", f"data.root={tmp_path}", "--runs-dir", tmp_path / "runs")
    expected = tmp_path / "OfficeHome"
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "https://www.hemanthdv.org/officeHomeDataset.html" in err and "OfficeHomeDataset_10072016.zip" in err
    assert f"Art, Clipart, Product, Real_World (or 'Real World') in {expected}/" in err
    assert not list((tmp_path / "runs").iterdir())  # no run directory
    code, out, _ = main("datasets", "--root", tmp_path)
    assert code == 0 and re.search(r"officehome +missing  manual download", out)
    write_officehome(tmp_path, {"Mug": 1})
    assert re.search(r"officehome +present", main("datasets", "--root", tmp_path)[1])


def test_digits_dg_deals_the_digits_into_four_styled_domains():
    cfg = resolve("digits-dg")
    bundle = build(cfg.data, cfg.aug)
    assert bundle.info.domains == ["original", "inverted", "tinted", "thick_rotated"]
    assert isinstance(bundle.train, MemoryDataset) and bundle.info.image_size == (32, 32)
    test, train = bundle.test.extras["domain"], bundle.train.extras["domain"]
    assert set(test.tolist()) == {0} and set(train.tolist()) == {1, 2, 3}  # lodo, the first domain left out
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 1797
    every = resolve("digits-dg", {"data.protocol": "mixed", "data.val_fraction": 0.5})
    mixed = build(every.data, every.aug)
    images, domains = mixed.val.images.float(), mixed.val.extras["domain"]
    brightness = [images[domains == d].mean() for d in range(4)]
    assert brightness[1] > 2 * brightness[0]  # inverted: dark strokes on white
    colourful = (images[domains == 2].std(1).mean(), images[domains == 0].std(1).mean())
    assert colourful[0] > 10 and colourful[1] == 0  # tinted differs across channels, original is gray
    per_sample = build(every.data, resolve("digits-dg", {"data.in_memory": False}).aug)
    assert per_sample.val[(3, 0)]["domain"] == int(domains[3])


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [2, 5, 16])
def test_crossdomain_batches_hold_two_domains_on_every_process(world_size, batch_size):
    domains = torch.tensor([0] * 50 + [1] * 7 + [2] * 23)[torch.randperm(80, generator=torch.Generator().manual_seed(1))]

    def batches(rank: int, epoch: int, start: int = 0) -> list[list[int]]:
        sampler = DomainBatchSampler(80, batch_size, domains=domains, shuffle=True, seed=3, rank=rank,
                                     world_size=world_size, drop_last=True)
        sampler.set_epoch(epoch, start)
        return [[i for i, _ in batch] for batch in sampler]

    for epoch in range(3):
        per_rank = [batches(rank, epoch) for rank in range(world_size)]
        assert {len(b) for b in per_rank} == {max(1, 80 // (batch_size * world_size))}
        for rank_batches in per_rank:
            for batch in rank_batches:
                assert len(batch) == batch_size and len(set(domains[batch].tolist())) == 2
        assert per_rank[0] == batches(0, epoch)  # (seed, epoch) decide the batches
        assert batches(world_size - 1, epoch, start=1) == per_rank[-1][1:]  # a resumed epoch continues
    assert batches(0, 0) != batches(0, 1)


def test_crossdomain_batches_need_two_domains():
    with pytest.raises(VislabError, match="needs at least two domains in the training split"):
        DomainBatchSampler(10, 4, domains=torch.zeros(10, dtype=torch.long), shuffle=True)
