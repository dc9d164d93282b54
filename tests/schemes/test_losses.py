"""The semi-supervised losses against values worked out by hand, and against the references' formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vislab.schemes.cutmix import cutmix_boxes, from_partner, mixed_labels
from vislab.schemes.losses import (
    distillation_loss, ema_update, fixmatch_loss, masked_cross_entropy, pseudo_labels, sigmoid_rampup,
    soft_cross_entropy, softmax_mse,
)


def test_fixmatch_masks_unconfident_samples_but_averages_over_the_whole_batch() -> None:
    # Weak view: two confident predictions (p = e^10 / (e^10 + 2) = 0.99991), two unconfident (p = 0.576).
    weak = torch.tensor([[10.0, 0, 0], [0, 10.0, 0], [1.0, 0, 0], [0, 0, 1.0]])
    strong = torch.zeros(4, 3)  # uniform: cross-entropy log 3 against any label
    loss, pseudo = fixmatch_loss(weak, strong, threshold=0.95)
    assert pseudo.labels.tolist() == [0, 1, 0, 2]
    assert pseudo.mask.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert loss.item() == pytest.approx(2 * math.log(3) / 4)  # (log 3 + log 3 + 0 + 0) / 4, as Sohn et al.'s code


def test_fixmatch_teaches_the_strong_view_only() -> None:
    weak = torch.tensor([[10.0, 0]], requires_grad=True)
    strong = torch.tensor([[0.0, 1.0]], requires_grad=True)
    loss, _ = fixmatch_loss(weak, strong, threshold=0.5)
    loss.backward()
    assert weak.grad is None or not weak.grad.any()
    assert strong.grad[0, 0] < 0  # raising the pseudo-label's logit lowers the loss
    # cross-entropy of [0, 1] against class 0: log(1 + e)
    assert loss.item() == pytest.approx(math.log(1 + math.e))


def test_masked_cross_entropy_averages_over_valid_pixels_only() -> None:
    logits = torch.zeros(1, 2, 1, 4)  # log 2 per pixel
    pseudo = pseudo_labels(torch.tensor([[[[5.0, 5, -5, -5]], [[0.0, 0, 0, 0]]]]), threshold=0.9)
    assert pseudo.mask.tolist() == [[[1.0, 1.0, 1.0, 1.0]]]
    valid = torch.tensor([[[True, False, True, False]]])
    assert masked_cross_entropy(logits, pseudo, valid).item() == pytest.approx(math.log(2))  # 2 log 2 / 2 pixels


def test_softmax_mse_is_mean_squared_difference_of_probabilities() -> None:
    student = torch.zeros(1, 2)  # [0.5, 0.5]
    teacher = torch.tensor([[math.log(3), 0.0]])  # [0.75, 0.25]
    assert softmax_mse(student, teacher).item() == pytest.approx(0.0625)  # (0.25^2 + 0.25^2) / 2


def test_sigmoid_rampup_follows_exp_minus_5_one_minus_t_squared() -> None:
    assert sigmoid_rampup(0, 10) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(5, 10) == pytest.approx(math.exp(-1.25))
    assert sigmoid_rampup(10, 10) == 1.0 and sigmoid_rampup(30, 10) == 1.0
    assert sigmoid_rampup(0, 0) == 1.0


def test_distillation_is_temperature_squared_kl() -> None:
    student = torch.zeros(1, 2)
    teacher = torch.tensor([[2 * math.log(3), 0.0]])  # at T = 2: [0.75, 0.25]
    by_hand = 4 * (0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5))
    assert distillation_loss(student, teacher, temperature=2.0).item() == pytest.approx(by_hand)
    s, t = torch.randn(5, 7), torch.randn(5, 7)
    hinton = F.kl_div(F.log_softmax(s / 3, 1), F.softmax(t / 3, 1), reduction="batchmean") * 9
    assert distillation_loss(s, t, temperature=3.0).item() == pytest.approx(hinton.item(), rel=1e-5)


def test_per_pixel_distillation_skips_invalid_pixels() -> None:
    student = torch.zeros(1, 2, 1, 2)
    teacher = torch.tensor([[[[2 * math.log(3), 50.0]], [[0.0, -50.0]]]])
    one_pixel = distillation_loss(torch.zeros(1, 2), torch.tensor([[2 * math.log(3), 0.0]]), temperature=2.0)
    valid = torch.tensor([[[True, False]]])
    assert distillation_loss(student, teacher, 2.0, valid).item() == pytest.approx(one_pixel.item())


def test_soft_cross_entropy_weights_samples() -> None:
    logits = torch.zeros(2, 2)
    probs = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert soft_cross_entropy(logits, probs, torch.tensor([2.0, 0.0])).item() == pytest.approx(math.log(2))


def test_ema_update_moves_teacher_a_share_toward_student() -> None:
    teacher, student = torch.nn.BatchNorm1d(1), torch.nn.BatchNorm1d(1)
    torch.nn.init.zeros_(teacher.weight)
    torch.nn.init.ones_(student.weight)
    student.running_mean.fill_(2.0)
    student.num_batches_tracked.fill_(7)
    ema_update(teacher, student, decay=0.9)
    assert teacher.weight.item() == pytest.approx(0.1)
    assert teacher.running_mean.item() == pytest.approx(0.2)
    assert teacher.num_batches_tracked.item() == 7


def test_cutmix_takes_the_box_from_the_next_image_for_images_and_labels_alike() -> None:
    images = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 2, 2, 2).clone()  # image i is all i
    box = torch.zeros(3, 2, 2, dtype=torch.bool)
    box[0, 0, 0] = box[2, 1, 1] = True
    logits = torch.zeros(3, 4, 2, 2)
    for i in range(3):
        logits[i, i] = 10.0  # image i predicts class i everywhere
    pseudo = pseudo_labels(logits, 0.5)
    valid = torch.ones(3, 2, 2, dtype=torch.bool)
    valid[1] = False  # image 1 is all padding
    out = from_partner(images, box)
    mixed_pseudo, mixed_valid = mixed_labels(pseudo, valid, box)
    assert out[0, :, 0, 0].tolist() == [1.0, 1.0] and out[0, :, 1, 1].tolist() == [0.0, 0.0]
    assert out[2, :, 1, 1].tolist() == [0.0, 0.0]  # the last image's partner is the first
    assert mixed_pseudo.labels[0].tolist() == [[1, 0], [0, 0]]
    assert mixed_pseudo.labels[2].tolist() == [[2, 2], [2, 0]]
    assert mixed_valid[0].tolist() == [[False, True], [True, True]]


def test_cutmix_boxes_follow_the_generator() -> None:
    a = cutmix_boxes(16, 32, 32, torch.Generator().manual_seed(1))
    b = cutmix_boxes(16, 32, 32, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    area = a.flatten(1).float().mean(1)
    boxed = area[area > 0]
    assert 0 < len(boxed) < 16 and (boxed <= 0.41).all()  # about half the images get a box of <= 40%
    assert torch.equal(from_partner(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3, dtype=torch.bool)), torch.zeros(2, 3, 3))
