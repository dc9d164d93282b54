"""The segmentation task: IoU metrics from one confusion matrix, losses, whole-image and sliding-window
inference, artifacts."""

from __future__ import annotations

import csv
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vislab import config
from vislab.data import DataBundle, DataInfo, MemoryDataset
from vislab.models.contract import Contract, declare
from vislab.tasks.segmentation import SegmentationTask, scores

INFO = DataInfo(task="segmentation", num_classes=3, class_names=["bg", "cat", "potted plant"], channels=1,
                mean=[0.0], std=[1.0])


def task(**overrides):
    return SegmentationTask(config.resolve("shapes-unet", overrides), INFO)


def one_hot_logits(pred):
    return F.one_hot(pred, 3).permute(0, 3, 1, 2).float()


def test_metrics_match_a_hand_count_and_skip_ignored_pixels():
    target = torch.tensor([[[0, 0, 1, 1], [2, 2, 255, 255]]])
    pred = torch.tensor([[[0, 1, 1, 1], [2, 0, 2, 1]]])
    metrics = task().metrics()
    metrics.update({"out": one_hot_logits(pred)}, {"target": target})
    m = metrics.compute()
    # bg: tp 1, fn 1, fp 1 -> 1/3; cat: tp 2, fp 1 -> 2/3; plant: tp 1, fn 1 -> 1/2
    assert m["iou_bg"] == pytest.approx(1 / 3) and m["iou_cat"] == pytest.approx(2 / 3)
    assert m["iou_potted_plant"] == pytest.approx(1 / 2)
    assert m["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert m["pixel_acc"] == pytest.approx(4 / 6) and m["mean_acc"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    train = task().metrics(train=True)
    train.update({"out": one_hot_logits(pred)}, {"target": target})
    assert set(train.compute()) == {"miou", "pixel_acc"}


def test_a_class_neither_present_nor_predicted_is_left_out_of_the_mean():
    s = scores(torch.tensor([[5, 1, 0], [0, 3, 0], [0, 0, 0]]))
    assert math.isnan(float(s["iou"][2])) and s["miou"] == pytest.approx((5 / 6 + 3 / 4) / 2)


def test_topk_keeps_the_hardest_share_of_the_pixels_not_ignored():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=g)
    target = torch.randint(0, 3, (2, 4, 5), generator=g)
    target[0, 0] = 255
    ce = F.cross_entropy(logits, target, ignore_index=255, reduction="none")[target != 255]
    assert task().loss({"out": logits}, {"target": target}) == pytest.approx(float(ce.mean()), rel=1e-5)
    hard = task(**{"loss.topk": 0.25}).loss({"out": logits}, {"target": target})
    assert hard == pytest.approx(float(ce.sort(descending=True).values[: math.ceil(0.25 * len(ce))].mean()), rel=1e-5)


class Strided(nn.Module):
    """A 3x3 convolution that refuses inputs whose sides are not multiples of its stride, like a real encoder."""

    def __init__(self):
        super().__init__()
        self.contract = Contract({"out": "conv"}, output_stride=8)
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 3, 3, padding=1)

    def forward(self, x):
        assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0, x.shape
        return self.conv(x)


def test_whole_images_are_padded_to_the_stride_and_cropped_back():
    model, x = Strided(), torch.randn(1, 1, 13, 21)
    out = task().predict(model, {"image": x})["out"]
    assert out.shape == (1, 3, 13, 21)
    assert torch.allclose(out[..., :12, :20], model.conv(F.pad(x, (0, 3, 0, 3)))[..., :12, :20], atol=1e-6)


def test_images_of_a_padded_batch_are_each_inferred_at_their_own_size():
    model, t = Strided(), task()
    a, b = torch.randn(1, 1, 13, 21), torch.randn(1, 1, 16, 9)
    batch = torch.zeros(2, 1, 16, 21)
    batch[0, :, :13, :21], batch[1, :, :16, :9] = a[0], b[0]
    out = t.predict(model, {"image": batch, "size": torch.tensor([[13, 21], [16, 9]])})["out"]
    assert torch.allclose(out[0, :, :13, :21], t.infer(model, a)["out"][0], atol=1e-6)
    assert torch.allclose(out[1, :, :16, :9], t.infer(model, b)["out"][0], atol=1e-6)


def test_sliding_windows_cover_the_image_and_average_where_they_overlap():
    pixelwise = declare(nn.Conv2d(1, 3, 1), Contract({"out": ""}, output_stride=1))
    x = torch.randn(2, 1, 37, 50)
    windows = task(**{"eval.sliding_window": [16, 24], "eval.window_overlap": 0.5}).infer(pixelwise, x)["out"]
    assert torch.allclose(windows, pixelwise(x), atol=1e-6)
    small = task(**{"eval.sliding_window": 64}).infer(pixelwise, x)["out"]  # a window larger than the image
    assert small.shape == (2, 3, 37, 50) and torch.allclose(small, pixelwise(x), atol=1e-6)


def test_finalize_writes_per_class_iou_tables_and_a_gallery_of_the_worst_images(tmp_path):
    targets = torch.zeros(4, 8, 8, dtype=torch.long)
    targets[:, :, 4:] = 1
    preds = targets.clone()
    preds[2] = 0  # image 2 misses its cat entirely
    images = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    bundle = DataBundle(train=None, val=MemoryDataset(images, targets), test=None, info=INFO)
    batches = [({"out": one_hot_logits(preds[i : i + 2])}, {"target": targets[i : i + 2], "index": torch.tensor([i, i + 1])})
               for i in (0, 2)]
    task(**{"eval.explain": None}).finalize(tmp_path, iter(batches), bundle, None)  # the plain gallery: no model
    rows = {r["class"]: r for r in csv.DictReader(open(tmp_path / "per_class_iou.csv"))}
    assert float(rows["cat"]["iou"]) == pytest.approx(0.75) and float(rows["bg"]["iou"]) == pytest.approx(128 / 160)
    assert rows["potted plant"]["iou"] == "" and rows["cat"]["pixels"] == "128"
    assert "| cat | 0.7500 |" in (tmp_path / "per_class_iou.md").read_text()
    assert (tmp_path / "worst_val.png").stat().st_size > 1000


def _update_half(rank: int, folder) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{folder / 'rendezvous'}", rank=rank, world_size=2)
    target = torch.tensor([[[0, 1], [1, 1]]]) if rank == 0 else torch.tensor([[[0, 0], [2, 2]]])
    metrics = task().metrics()
    metrics.update({"out": one_hot_logits(torch.zeros_like(target))}, {"target": target})
    (folder / f"{rank}.txt").write_text(str(metrics.compute()["pixel_acc"]))
    dist.destroy_process_group()


@pytest.mark.slow
def test_metrics_are_reduced_across_processes(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_update_half, args=(tmp_path,), nprocs=2)
    # Each process saw 4 pixels; together 3 of the 8 are class 0, which is all that was predicted.
    assert [float((tmp_path / f"{r}.txt").read_text()) for r in (0, 1)] == [pytest.approx(3 / 8)] * 2


def test_training_metrics_count_a_fixed_grid_of_pixels_evaluation_counts_all():
    """Training mIoU is read on every 4th pixel row and column; evaluation on every pixel."""
    from vislab.tasks.segmentation.metrics import TRAIN_PIXEL_STRIDE, SegmentationMetrics

    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, 1::2, :] = 1  # odd rows are class 1: the training grid (rows 0 and 4) sees only class 0
    logits = torch.zeros(1, 2, 8, 8)
    logits[0, 0] = 1.0  # predicts class 0 everywhere
    full, grid = (SegmentationMetrics(2, 255, ["a", "b"], per_class=False, pixel_stride=s) for s in (1, TRAIN_PIXEL_STRIDE))
    for m in (full, grid):
        m.update({"out": logits}, {"target": target})
    assert full.compute() == {"miou": pytest.approx(0.25), "pixel_acc": pytest.approx(0.5)}  # IoU 0.5 and 0
    assert grid.compute() == {"miou": pytest.approx(1.0), "pixel_acc": pytest.approx(1.0)}  # class 1 unseen: nan, left out
