"""Every loss against values worked out by hand on three pixels.

Logits [1, 2, 1, 3]: pixel a (0, 0) -> softmax (1/2, 1/2), truth 0; pixel b (ln 3, 0) -> (3/4, 1/4), truth 1;
pixel c (0, 100), ignored (255). The binary logit (class 1 - class 0) is 0 at a and -ln 3 at b, so its
sigmoid is 1/2 and 1/4. Pixel c takes no part: the values below hold only if it is left out.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from vislab.errors import VislabError
from vislab.losses import LOSSES, build_loss, check_terms
from vislab.losses.ce import cross_entropy

IGNORE = 255


def tensors(ignored_logits=(0.0, 100.0)):
    logits = torch.tensor([[0.0, math.log(3), ignored_logits[0]], [0.0, 0.0, ignored_logits[1]]]).view(1, 2, 1, 3)
    return logits.requires_grad_(), torch.tensor([[[0, 1, IGNORE]]])


# Hand values. Soft counts per class (a, b valid): class 0: TP 1/2, FP 3/4, FN 1/2; class 1: TP 1/4, FP 1/2, FN 3/4.
HAND = {
    ("ce", False): (math.log(2) + math.log(4)) / 2,
    ("dice", False): 1 - (1 / 2.25 + 0.5 / 1.75) / 2,  # Dice 2TP/(2TP+FP+FN): 1/2.25 and 0.5/1.75
    ("focal", False): (0.25 * math.log(2) + 0.5625 * math.log(4)) / 2,  # (1-p_t)^2 (-ln p_t), p_t 1/2 and 1/4
    # Lovasz: class 0 errors (b 3/4 bg, a 1/2 fg) -> grads (1/2, 1/2) -> 0.625; class 1 (b 3/4 fg, a 1/2 bg) -> (1, 0) -> 0.75
    ("lovasz", False): (0.625 + 0.75) / 2,
    ("tversky", False): None,  # with alpha 0.3, beta 0.7 below
    ("ce", True): (math.log(2) + math.log(4)) / 2,  # -ln(1 - 1/2), -ln(1/4)
    ("dice", True): 1 - 0.5 / 1.75,  # the foreground only
    ("focal", True): None,
    ("lovasz", True): 1 + math.log(3),  # hinge errors: a 1 - 0 (bg), b 1 + ln 3 (fg); grads (1, 0) for (b, a)
    ("tversky", True): None,
}


def term(name, binary=False, **kw):
    return SimpleNamespace(name=name, weight=1.0, binary=binary, gamma=kw.get("gamma"), alpha=kw.get("alpha"), beta=kw.get("beta"))


@pytest.mark.parametrize("name,binary", [k for k, v in HAND.items() if v is not None])
def test_each_loss_matches_the_hand_value_and_ignores_the_ignored_pixel(name, binary):
    logits, target = tensors()
    loss = build_loss([term(name, binary)], IGNORE)(logits, target)
    assert loss.item() == pytest.approx(HAND[name, binary], abs=1e-6)
    loss.backward()
    assert torch.all(logits.grad[..., 2] == 0), "the ignored pixel got a gradient"
    other, _ = tensors(ignored_logits=(-50.0, 7.0))
    assert build_loss([term(name, binary)], IGNORE)(other, target).item() == pytest.approx(loss.item(), abs=1e-6)


def test_tversky_weights_false_positives_by_alpha_and_false_negatives_by_beta():
    logits, target = tensors()
    # class 0: 0.5 / (0.5 + 0.3*0.75 + 0.7*0.5); class 1: 0.25 / (0.25 + 0.3*0.5 + 0.7*0.75)
    expected = 1 - (0.5 / 1.075 + 0.25 / 0.925) / 2
    assert build_loss([term("tversky", alpha=0.3, beta=0.7)], IGNORE)(logits, target).item() == pytest.approx(expected, abs=1e-6)
    binary = 1 - 0.25 / 0.925
    assert build_loss([term("tversky", True, alpha=0.3, beta=0.7)], IGNORE)(logits, target).item() == pytest.approx(binary, abs=1e-6)


def test_binary_focal_weights_foreground_by_alpha():
    logits, target = tensors()
    # a: background, p_t 1/2: (1/2)^2 ln 2 x 0.75; b: foreground, p_t 1/4: (3/4)^2 ln 4 x 0.25
    expected = (0.25 * math.log(2) * 0.75 + 0.5625 * math.log(4) * 0.25) / 2
    assert build_loss([term("focal", True, alpha=0.25)], IGNORE)(logits, target).item() == pytest.approx(expected, abs=1e-6)


def test_focal_with_gamma_zero_is_the_cross_entropy():
    logits, target = tensors()
    assert build_loss([term("focal", gamma=0.0)], IGNORE)(logits, target).item() == pytest.approx(HAND["ce", False], abs=1e-6)


def test_terms_add_up_with_their_weights():
    logits, target = tensors()
    terms = [term("ce"), SimpleNamespace(**{**vars(term("dice")), "weight": 0.5})]
    assert build_loss(terms, IGNORE)(logits, target).item() == pytest.approx(HAND["ce", False] + 0.5 * HAND["dice", False], abs=1e-6)


def test_a_batch_with_every_pixel_ignored_gives_zero_not_nan():
    logits = torch.randn(1, 2, 2, 2, requires_grad=True)
    target = torch.full((1, 2, 2), IGNORE)
    for name in LOSSES:
        for binary in (False, True):
            value = build_loss([term(name, binary)], IGNORE)(logits, target)
            assert value.item() == 0.0, (name, binary)


def test_weighted_cross_entropy_divides_by_the_pixels_weights():
    logits, target = tensors()
    # weights (1, 3): (1 x ln 2 + 3 x ln 4) / (1 + 3)
    value = cross_entropy(logits, target, IGNORE, weight=torch.tensor([1.0, 3.0]))
    assert value.item() == pytest.approx((math.log(2) + 3 * math.log(4)) / 4, abs=1e-6)


@pytest.mark.parametrize("bad,num_classes,message", [
    (term("dice", gamma=2.0), 3, "loss.terms[0].gamma: the dice loss has no gamma"),
    (term("focal", alpha=0.25), 3, "loss.terms[0].alpha: the focal loss has no alpha"),
    (term("dice", True), 3, "loss.terms[0].binary: the binary form needs two classes"),
    (term("jaccard"), 3, "loss.terms[0].name: unknown loss 'jaccard'"),
])
def test_terms_that_cannot_work_are_refused(bad, num_classes, message):
    with pytest.raises(VislabError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_terms([bad], num_classes)
