"""The COCO panoptic export, read back by a port of panopticapi's pq_compute (tests/panopticapi_pq.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from panopticapi_pq import pq_compute
from vislab.tasks.panoptic.coco import PanopticExport, id_to_rgb, rgb_to_id, segments

IGNORE = 255


def test_ids_round_trip_through_rgb():
    ids = np.array([[0, 1, 255], [256, 65536 + 2, 70000]], dtype=np.uint32)
    assert np.array_equal(rgb_to_id(id_to_rgb(ids)), ids)
    assert id_to_rgb(np.array([[256 + 3]])).tolist() == [[[3, 1, 0]]]


def test_segments_one_per_class_and_instance_with_area_and_bbox():
    classes = np.array([[0, 0, 1, 1], [0, IGNORE, 1, 1], [2, 2, 1, 1]])
    instances = np.array([[0, 0, 1, 1], [0, 0, 1, 2], [0, 0, 2, 2]])
    ids, info = segments(classes, instances, IGNORE)
    assert ids[1, 1] == 0  # void
    by_cat = sorted((s["category_id"], s["area"], s["bbox"]) for s in info)
    assert by_cat == [(1, 3, [0, 0, 2, 2]), (2, 3, [2, 0, 2, 2]), (2, 3, [2, 1, 2, 2]), (3, 2, [0, 2, 2, 1])]
    assert len({s["id"] for s in info}) == 4 and all(s["id"] > 0 for s in info)


def random_panoptic(g, h=24, w=32, things=(2, 3)):
    """Blocky maps: stuff classes 0 and 1 in 8x8 blocks, rectangles of thing instances on top, 5% void."""
    cls = torch.randint(0, 2, (h // 8, w // 8), generator=g).repeat_interleave(8, 0).repeat_interleave(8, 1)
    inst = torch.zeros(h, w, dtype=torch.long)
    for n in range(1, int(torch.randint(1, 5, (1,), generator=g)) + 1):
        y, x, hh, ww = (int(v) for v in torch.randint(0, 100, (4,), generator=g))
        y, x, hh, ww = y % (h - 6), x % (w - 6), 3 + hh % 5, 3 + ww % 5
        cls[y : y + hh, x : x + ww] = things[n % len(things)]
        inst[y : y + hh, x : x + ww] = n
    void = torch.rand(h, w, generator=g) < 0.05
    return cls.masked_fill(void, IGNORE), inst.masked_fill(void, 0)


def perturbed(g, cls, inst):
    """A prediction: the truth shifted by a pixel or two, some pixels relabelled, an instance split."""
    dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
    cls, inst = cls.roll((dy, dx), (0, 1)).clone(), inst.roll((dy, dx), (0, 1)).clone()
    noise = torch.rand(cls.shape, generator=g) < 0.1
    cls[noise] = torch.randint(0, 4, (int(noise.sum()),), generator=g)
    inst[noise & (cls < 2)] = 0
    inst[:, : cls.shape[1] // 3] *= 7  # a different instance id left of a line: instances crossing it split in two
    return cls, inst


def test_panopticapi_reads_the_export_and_agrees_with_vislab_pq(tmp_path):
    from vislab.tasks.panoptic.metrics import pq_counts, pq_scores

    g = torch.Generator().manual_seed(0)
    names, things = ["sky", "grass", "circle", "square"], [2, 3]
    gt = PanopticExport(tmp_path, "ground_truth", names, things, IGNORE)
    pred = PanopticExport(tmp_path, "predictions", names, things, IGNORE)
    counts = torch.zeros(4, 4, dtype=torch.float64)
    for image_id in range(12):
        true = random_panoptic(g)
        guess = perturbed(g, *true)
        counts += pq_counts(*guess, *true, 4, IGNORE)
        gt.add(image_id, *(t.numpy() for t in true))
        pred.add(image_id, *(t.numpy() for t in guess))
    official = pq_compute(gt.close(), pred.close())
    ours = pq_scores(counts, things)
    assert 0.2 < official["All"]["pq"] < 0.9  # a prediction neither perfect nor hopeless
    for group, suffix in (("All", ""), ("Things", "_things"), ("Stuff", "_stuff")):
        for key in ("pq", "sq", "rq"):
            assert ours[key + suffix] == pytest.approx(official[group][key], abs=1e-9), (group, key)
    png = np.array(Image.open(tmp_path / "predictions" / "00000000.png"))
    assert png.dtype == np.uint8 and png.shape == (24, 32, 3)
    doc = json.loads((tmp_path / "ground_truth.json").read_text())
    assert [c["isthing"] for c in doc["categories"]] == [0, 0, 1, 1] and len(doc["annotations"]) == 12
