"""The panoptic task: center and offset targets, instance grouping, panoptic quality on hand-built cases, the loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vislab import config
from vislab.data import DataInfo
from vislab.data.families.panoptic_targets import panoptic_targets
from vislab.errors import VislabError
from vislab.tasks import build
from vislab.tasks.panoptic import PanopticQuality, find_centers, panoptic_maps, pq_counts, pq_scores

INFO = DataInfo(task="segmentation", num_classes=3, class_names=["sky", "cat", "dog"], channels=1, mean=[0.0],
                std=[1.0], thing_classes=[1, 2])
THINGS = torch.tensor([1, 2])


def task(**overrides):
    return build(config.resolve("shapes-panoptic", overrides), INFO)


def two_cats() -> tuple[torch.Tensor, torch.Tensor]:
    """classes and instance ids [1, 8, 10]: sky, a 3x3 cat (instance 4) at rows 1-3, cols 1-3, a 2x4 dog
    (instance 9) at rows 5-6, cols 5-8, and an ignored pixel."""
    target = torch.zeros(1, 8, 10, dtype=torch.long)
    instance = torch.zeros(1, 8, 10, dtype=torch.uint8)
    target[0, 1:4, 1:4], instance[0, 1:4, 1:4] = 1, 4
    target[0, 5:7, 5:9], instance[0, 5:7, 5:9] = 2, 9
    target[0, 7, 0] = 255
    return target, instance


def test_targets_put_a_unit_peak_at_each_center_and_point_thing_pixels_at_it():
    target, instance = two_cats()
    t = panoptic_targets(target, instance, THINGS, sigma=2.0, ignore_index=255)
    assert t.center[0, 0, 2, 2] == 1.0 and t.center[0, 0, 6, 6] == 1.0  # the dog's center (5.5, 6.5) rounds to (6, 6)
    assert t.center[0, 0, 2, 4] == pytest.approx(math.exp(-4 / (2 * 2.0**2)))
    assert t.offset[0, :, 1, 1].tolist() == [1.0, 1.0] and t.offset[0, :, 5, 8].tolist() == [0.5, -1.5]
    assert t.offset[0, :, 0, 0].tolist() == [0.0, 0.0]
    assert t.offset_weight.sum() == 9 + 8 and t.center_weight.sum() == 80 - 1 and t.center_weight[0, 0, 7, 0] == 0


def test_centers_by_max_pool_nms_threshold_and_top_k():
    heat = torch.zeros(20, 20)
    heat[2, 2], heat[4, 4], heat[15, 15], heat[10, 3] = 0.9, 0.5, 0.6, 0.05
    assert find_centers(heat).tolist() == [[2, 2], [15, 15]]  # (4, 4) lies in (2, 2)'s 7x7 window; 0.05 < 0.1
    assert find_centers(heat, top_k=1).tolist() == [[2, 2]]
    assert find_centers(heat, kernel=3).tolist() == [[2, 2], [15, 15], [4, 4]]


def test_grouping_follows_offsets_and_instances_take_their_majority_class():
    target, instance = two_cats()
    t = panoptic_targets(target, instance, THINGS, sigma=2.0, ignore_index=255)
    semantic = target[0].clone()
    semantic[7, 0] = 0
    semantic[1, 1] = 2  # one cat pixel called dog: the instance still votes cat
    classes, ids = panoptic_maps(semantic, t.center[0, 0], t.offset[0], THINGS, 255)
    assert (classes[1:4, 1:4] == 1).all() and (classes[5:7, 5:9] == 2).all() and (classes[0] == 0).all()
    assert len(ids[1:4, 1:4].unique()) == 1 and len(ids[5:7, 5:9].unique()) == 1 and ids[1, 1] != ids[5, 5]
    assert (ids[semantic == 0] == 0).all()
    classes, ids = panoptic_maps(semantic, torch.zeros(8, 10), t.offset[0], THINGS, 255)  # no center found
    assert (classes[1:4, 1:4] == 255).all() and (classes[0] == 0).all() and ids.max() == 0


def counts(pred, truth, k=3):
    return pq_counts(*pred, *truth, k, 255)


def test_pq_is_one_for_a_perfect_prediction_and_counts_every_segment():
    target, instance = two_cats()
    truth = (target[0], torch.where(target[0] > 0, instance[0].long(), 0))
    c = counts(truth, truth)
    assert c[0].tolist() == [1, 1, 1] and c[1:3].sum() == 0 and c[3].tolist() == [1, 1, 1]
    s = pq_scores(c)
    assert (s["pq"], s["sq"], s["rq"]) == (1.0, 1.0, 1.0)


def test_pq_of_a_hand_counted_case():
    """Truth: two cats A (8 px) and B (4 px), sky elsewhere. Prediction: A with 2 pixels lost to sky, B merged
    into a larger dog, and a false cat C on sky."""
    tc, ti = torch.zeros(6, 6, dtype=torch.long), torch.zeros(6, 6, dtype=torch.long)
    tc[0:2, 0:4], ti[0:2, 0:4] = 1, 1  # A: 8 px
    tc[4:6, 4:6], ti[4:6, 4:6] = 1, 2  # B: 4 px
    pc, pi = tc.clone(), ti.clone()
    pc[0, 0:2], pi[0, 0:2] = 0, 0  # A predicted on 6 of its 8 pixels: IoU 6/8
    pc[3:6, 3:6], pi[3:6, 3:6] = 2, 5  # B called a dog: no match; the dog is a false positive
    pc[3, 0], pi[3, 0] = 1, 7  # C: a one-pixel false cat
    c = counts((pc, pi), (tc, ti))
    sky_iou = 18 / 26  # truth sky 24 px, 6 of them lost to the dog and C; predicted sky adds A's 2
    assert c[:, 0].tolist() == pytest.approx([1, 0, 0, sky_iou])
    assert c[:, 1].tolist() == pytest.approx([1, 1, 1, 6 / 8])  # A matched; C false; B missed
    assert c[:, 2].tolist() == pytest.approx([0, 1, 0, 0])  # the dog is false
    s = pq_scores(c)
    assert s["pq_class"].tolist() == pytest.approx([sky_iou, 0.75 / 2, 0.0])
    assert s["sq"] == pytest.approx((sky_iou + 0.75 + 0.0) / 3) and s["rq"] == pytest.approx((1 + 0.5 + 0) / 3)


def test_void_pixels_leave_the_union_and_a_prediction_mostly_on_void_is_no_false_positive():
    tc, ti = torch.zeros(4, 8, dtype=torch.long), torch.zeros(4, 8, dtype=torch.long)
    tc[:, 0:2], ti[:, 0:2] = 1, 3  # an 8-pixel cat, 16 sky pixels
    tc[:, 6:8] = 255  # 8 void pixels
    pc, pi = tc.clone(), ti.clone()
    pc[:, 2:6], pi[:, 2:6] = 1, 3  # the cat spills over the sky: IoU 8/24, no match
    c = counts((pc, pi), (tc, ti))
    assert c[0, 1] == 0 and c[2, 1] == 1 and c[1, 1] == 1
    pc[:, 2:6], pi[:, 2:6] = 0, 0
    pc[:, 6:8], pi[:, 6:8] = 1, 3  # instead over the void pixels: they leave the union, IoU 1
    assert counts((pc, pi), (tc, ti))[:, 1].tolist() == [1, 0, 0, 1.0]
    pc[:, 6:8], pi[:, 6:8] = 2, 1  # a dog lying wholly on void: not counted
    assert counts((pc, pi), (tc, ti))[1, 2] == 0


def test_pq_states_are_sums_so_processes_reduce_to_the_whole():
    target, instance = two_cats()
    truth = (target[0], torch.where(target[0] > 0, instance[0].long(), 0))
    wrong = (torch.zeros_like(target[0]), torch.zeros_like(target[0]))
    whole, halves = PanopticQuality(3, 255), [PanopticQuality(3, 255), PanopticQuality(3, 255)]
    for m, (pred, true) in zip([whole, whole, halves[0], halves[1]], [(truth, truth), (wrong, truth)] * 2):
        m.update(*pred, *true)
    summed = {name: state + halves[1].state_dict()[name] for name, state in halves[0].state_dict().items()}
    halves[0].load_state_dict(summed)  # what the all-reduce does: the "sum" reduction of every state
    assert torch.equal(halves[0].compute(), whole.compute()) 
    assert whole.counts[:3].tolist() == [[2, 1, 1], [0, 0, 0], [0, 1, 1]]  # the all-sky guess misses cat and dog


def test_loss_is_the_semantic_loss_plus_weighted_center_mse_and_offset_l1():
    target, instance = two_cats()
    t = panoptic_targets(target, instance, THINGS, sigma=8.0, ignore_index=255)
    logits = F.one_hot(target.clamp_max(2), 3).permute(0, 3, 1, 2).float() * 20
    batch = {"target": target, "instance": instance}
    semantic = F.cross_entropy(logits, target, ignore_index=255)
    perfect = {"out": logits, "center": t.center, "offset": t.offset}
    assert task().loss(perfect, batch) == pytest.approx(semantic.item(), abs=1e-6)
    off = {"out": logits, "center": t.center + 0.1, "offset": t.offset + 2.0}
    expected = semantic + 10 * 0.01 + 0.5 * 4.0  # MSE 0.01 on 79 pixels, L1 2 + 2 per thing pixel
    assert task(**{"loss.center_weight": 10, "loss.offset_weight": 0.5}).loss(off, batch) == pytest.approx(expected.item(), rel=1e-5)


def test_metrics_report_miou_and_panoptic_quality_per_class():
    target, instance = two_cats()
    t = panoptic_targets(target, instance, THINGS, sigma=2.0, ignore_index=255)
    outputs = {"out": F.one_hot(target.clamp_max(2), 3).permute(0, 3, 1, 2).float(), "center": t.center, "offset": t.offset}
    m = task().metrics()
    m.update(outputs, {"target": target, "instance": instance})
    values = m.compute()
    assert values["pq"] == values["miou"] == values["pq_cat"] == values["rq_dog"] == 1.0
    train = task().metrics(train=True)  # no grouping while training
    train.update(outputs, {"target": target})
    assert set(train.compute()) == {"miou", "pixel_acc"}


def test_panoptic_heads_on_data_without_instance_ids_is_bad_input():
    info = DataInfo(task="segmentation", num_classes=3, class_names=["a", "b", "c"], channels=1, mean=[0.0], std=[1.0])
    with pytest.raises(VislabError, match="dataset pairs has no instance ids.*data.instance_dir"):
        build(config.resolve("shapes-panoptic", {"data.name": "pairs"}), info)


def test_things_split_counts_true_instances_cut_into_pieces():
    from vislab.tasks.panoptic.metrics import split_counts

    true_classes = torch.zeros(10, 20, dtype=torch.long)
    true_classes[2:8, 2:18] = 1  # one long thing instance
    true_instances = (true_classes == 1).long()
    pred_instances = true_instances.clone()
    pred_instances[:, 10:] *= 2  # predicted as two halves
    assert split_counts(true_classes, pred_instances, true_classes, true_instances, THINGS).tolist() == [1.0, 1.0]
    pred_instances[2:8, 17] = 3  # a sliver of 6 of its 96 pixels (< 10%) is no piece
    pred_instances[:, :17][pred_instances[:, :17] == 2] = 1
    assert split_counts(true_classes, pred_instances, true_classes, true_instances, THINGS).tolist() == [0.0, 1.0]


def test_stuff_smaller_than_stuff_area_becomes_void():
    from vislab.config.schema import PanopticEvalConfig

    semantic = torch.zeros(8, 10, dtype=torch.long)
    semantic[0, :3] = 3  # three pixels of a stuff class
    heat = torch.zeros(8, 10)
    classes, _ = panoptic_maps(semantic, heat, torch.zeros(2, 8, 10), THINGS, 255, PanopticEvalConfig(stuff_area=4))
    assert (classes[0, :3] == 255).all() and (classes[1:] == 0).all()
    classes, _ = panoptic_maps(semantic, heat, torch.zeros(2, 8, 10), THINGS, 255, PanopticEvalConfig(stuff_area=3))
    assert (classes[0, :3] == 3).all()
