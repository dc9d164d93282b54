"""Panoptic targets: centres of mass exact for large instances, instances told apart by class and id."""

from __future__ import annotations

import torch

from vislab.data.families.panoptic_targets import instance_segments, panoptic_targets

THINGS = torch.tensor([1, 2])


def test_centre_and_offsets_of_a_large_instance_are_exact():
    # 300 x 400 = 120,000 pixels at rows 101..400 and columns 51..450: centre (250.5, 250.5)
    target = torch.zeros(1, 420, 460, dtype=torch.long)
    target[0, 101:401, 51:451] = 1
    instance = (target == 1).long()
    _, _, center = instance_segments(target, instance, THINGS)
    # summed in float32, the row sum (~3e7) loses its last bits and the centre lands ~0.1 px away
    assert torch.allclose(center.double(), torch.tensor([[250.5, 250.5]], dtype=torch.float64), atol=1e-4)
    t = panoptic_targets(target, instance, THINGS, sigma=8.0, ignore_index=255)
    assert torch.allclose(t.offset[0, :, 101, 51], torch.tensor([149.5, 199.5]), atol=1e-3)  # (101, 51) -> (250.5, 250.5)


def test_an_id_reused_by_two_classes_names_two_instances():
    # COCO and Cityscapes number instances per class: id 1 is a class-1 object on the left and a class-2 one on the right
    target = torch.zeros(1, 20, 40, dtype=torch.long)
    target[0, 5:10, 2:7] = 1
    target[0, 10:15, 30:35] = 2
    instance = (target > 0).long()
    segment, image, center = instance_segments(target, instance, THINGS)
    assert sorted(center.tolist()) == [[7.0, 4.0], [12.0, 32.0]]
    assert image.tolist() == [0, 0]
    t = panoptic_targets(target, instance, THINGS, sigma=2.0, ignore_index=255)
    assert t.center[0, 0, 7, 4] == 1.0 and t.center[0, 0, 12, 32] == 1.0  # a peak on each, none between them
    assert t.offset[0, :, 5, 2].tolist() == [2.0, 2.0] and t.offset[0, :, 10, 30].tolist() == [2.0, 2.0]
