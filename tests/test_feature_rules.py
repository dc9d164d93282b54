"""The table of which features combine (config.combinations): each rule refuses its combination in one line
naming the key, and lets the same settings pass where the run's kind fits them. The CLI journeys through these
rules are in tests/journeys/test_combinations.py."""

from __future__ import annotations

import dataclasses

import pytest

from vislab.config import resolve
from vislab.config.combinations import RULES, Kind, check
from vislab.errors import VislabError

PLAIN = Kind(task="classification", per_pixel=False, domains=False, panoptic=False, data_domains=False, any_size=True)
DENSE = dataclasses.replace(PLAIN, task="segmentation", per_pixel=True)
PANOPTIC = dataclasses.replace(DENSE, task="panoptic", panoptic=True)
DG = dataclasses.replace(PLAIN, task="domain_generalization", domains=True, data_domains=True)

# rule name: (overrides, a kind it makes no sense with, the key its message names, a kind it fits)
CASES = {
    "domain-balanced sampler needs domains": ({"data.sampler": "domain_balanced"}, DENSE, "data.sampler", DG),
    "domains per batch need the domain-balanced sampler": ({"data.domains_per_batch": 2}, DG, "data.domains_per_batch", None),
    "the class-balanced sampler needs a class per image": ({"data.sampler": "class_balanced"}, DENSE, "data.sampler", DG),
    "class weights from class counts need a class per image": ({"loss.class_weights": "auto"}, DENSE,
                                                               "loss.class_weights", PLAIN),
    "the class-balanced sampler and counted class weights correct the same imbalance":
        ({"data.sampler": "class_balanced", "loss.class_weights": "effective"}, PLAIN, "loss.class_weights", None),
    "center and offset heads need the panoptic task": ({"model.heads": "panoptic"}, DENSE, "model.heads", PANOPTIC),
    "the panoptic task needs center and offset heads": ({"model.heads": "semantic"}, PANOPTIC, "model.heads", DENSE),
    "MixStyle and the domain head need a task that learns with domains":
        ({"model.domain_head": True}, dataclasses.replace(PLAIN, data_domains=True), "model.domain_head", DG),
    "a scheme cannot join MixStyle with a domain head":
        ({"model.mixstyle": {"p": 0.5}, "model.domain_head": True, "semisup.method": "fixmatch",
          "data.labeled_per_class": 5}, DG, "model.domain_head", None),
    "progressive image sizes need a model that takes any size":
        ({"train.progressive": {"image_size": [6, 8]}}, dataclasses.replace(PLAIN, any_size=False),
         "train.progressive.image_size", PLAIN),
    "a progressive magnitude needs RandAugment": ({"train.progressive": {"magnitude": [1, 3]}}, PLAIN,
                                                  "train.progressive.magnitude", None),
    "a progressive MixUp alpha needs MixUp": ({"train.progressive": {"mixup_alpha": [0.0, 0.2]}}, PLAIN,
                                              "train.progressive.mixup_alpha", None),
}


def test_every_rule_has_a_case() -> None:
    assert sorted(CASES) == sorted(rule.name for rule in RULES)


@pytest.mark.parametrize("name", list(CASES))
def test_a_rule_refuses_its_combination_in_one_line_and_passes_where_the_kind_fits(name: str) -> None:
    overrides, wrong, key, fits = CASES[name]
    cfg = resolve("digits", overrides)
    assert [rule.name for rule in RULES if rule.applies(cfg, wrong)] == [name]
    with pytest.raises(VislabError) as refused:
        check(cfg, wrong)
    assert key in str(refused.value) and "\n" not in str(refused.value)
    if fits is not None:
        check(cfg, fits)


def test_the_data_and_the_task_agree_on_which_work_is_per_pixel() -> None:
    """The data side's per_pixel_targets (below the tasks) answers as each task's per_pixel declaration does."""
    from vislab.data_info import per_pixel_targets
    from vislab.tasks import TASKS

    assert {name: per_pixel_targets(name) for name in TASKS} == {name: task.per_pixel for name, task in TASKS.items()}
    assert sorted(name for name, task in TASKS.items() if task.per_pixel) == ["panoptic", "segmentation"]
