"""panopticapi's pq_compute (cocodataset/panopticapi, panopticapi/evaluation.py), ported for the tests.

panopticapi is not on PyPI, so its evaluation is re-expressed here step by step, on one process: the same
inputs (a ground-truth and a prediction JSON, each with a folder of RGB-encoded PNGs), the same checks
(every PNG segment in the JSON and back, known categories), the same matching (same category, IoU > 0.5,
void pixels of the truth left out of the union, crowd truth skipped), the same false positives (a predicted
segment lying more than half on void or on a crowd region of its category is none), and the same averages
(All, Things, Stuff over the categories with any tp, fp or fn). Reading it beside the original should show
nothing else.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

OFFSET = 256**3
VOID = 0


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def _image_stats(gt_ann: dict, pred_ann: dict, gt_folder: Path, pred_folder: Path, categories: dict, stats: dict) -> None:
    pan_gt = rgb2id(np.array(Image.open(gt_folder / gt_ann["file_name"]), dtype=np.uint32))
    pan_pred = rgb2id(np.array(Image.open(pred_folder / pred_ann["file_name"]), dtype=np.uint32))
    gt_segms = {s["id"]: dict(s) for s in gt_ann["segments_info"]}
    pred_segms = {s["id"]: dict(s) for s in pred_ann["segments_info"]}

    unseen = set(pred_segms)
    for label, count in zip(*np.unique(pan_pred, return_counts=True)):
        if label not in pred_segms:
            if label == VOID:
                continue
            raise KeyError(f"image {gt_ann['image_id']}: segment {label} in the PNG and not in the JSON")
        pred_segms[label]["area"] = count
        unseen.remove(label)
        if pred_segms[label]["category_id"] not in categories:
            raise KeyError(f"image {gt_ann['image_id']}: segment {label} has unknown category")
    if unseen:
        raise KeyError(f"image {gt_ann['image_id']}: segments {sorted(unseen)} in the JSON and not in the PNG")

    joint = pan_gt.astype(np.uint64) * OFFSET + pan_pred.astype(np.uint64)
    inter = {(int(k // OFFSET), int(k % OFFSET)): int(n) for k, n in zip(*np.unique(joint, return_counts=True))}

    gt_matched, pred_matched = set(), set()
    for (gt_label, pred_label), intersection in inter.items():
        if gt_label not in gt_segms or pred_label not in pred_segms:
            continue
        gt, pred = gt_segms[gt_label], pred_segms[pred_label]
        if gt["iscrowd"] == 1 or gt["category_id"] != pred["category_id"]:
            continue
        union = pred["area"] + gt["area"] - intersection - inter.get((VOID, pred_label), 0)
        iou = intersection / union
        if iou > 0.5:
            stats[gt["category_id"]]["tp"] += 1
            stats[gt["category_id"]]["iou"] += iou
            gt_matched.add(gt_label)
            pred_matched.add(pred_label)

    crowd = {}
    for gt_label, gt in gt_segms.items():
        if gt_label in gt_matched:
            continue
        if gt["iscrowd"] == 1:
            crowd[gt["category_id"]] = gt_label
            continue
        stats[gt["category_id"]]["fn"] += 1

    for pred_label, pred in pred_segms.items():
        if pred_label in pred_matched:
            continue
        on_void = inter.get((VOID, pred_label), 0)
        if pred["category_id"] in crowd:
            on_void += inter.get((crowd[pred["category_id"]], pred_label), 0)
        if on_void / pred["area"] > 0.5:
            continue
        stats[pred["category_id"]]["fp"] += 1


def _average(stats: dict, categories: dict, isthing: bool | None) -> dict:
    pq = sq = rq = n = 0.0
    for label, cat in categories.items():
        if isthing is not None and (cat["isthing"] == 1) != isthing:
            continue
        s = stats[label]
        if s["tp"] + s["fp"] + s["fn"] == 0:
            continue
        n += 1
        denominator = s["tp"] + 0.5 * s["fp"] + 0.5 * s["fn"]
        pq += s["iou"] / denominator
        sq += s["iou"] / s["tp"] if s["tp"] else 0
        rq += s["tp"] / denominator
    return {"pq": pq / n, "sq": sq / n, "rq": rq / n, "n": int(n)}


def pq_compute(gt_json_file: Path, pred_json_file: Path) -> dict:
    """{"All" | "Things" | "Stuff": {"pq", "sq", "rq", "n"}}, the folders beside the JSONs (X.json -> X/)."""
    gt_json = json.loads(Path(gt_json_file).read_text())
    pred_json = json.loads(Path(pred_json_file).read_text())
    gt_folder, pred_folder = Path(gt_json_file).with_suffix(""), Path(pred_json_file).with_suffix("")
    categories = {c["id"]: c for c in gt_json["categories"]}
    predictions = {a["image_id"]: a for a in pred_json["annotations"]}
    stats: dict = defaultdict(lambda: {"iou": 0.0, "tp": 0, "fp": 0, "fn": 0})
    for gt_ann in gt_json["annotations"]:
        if gt_ann["image_id"] not in predictions:
            raise KeyError(f"no prediction for the image with id: {gt_ann['image_id']}")
        _image_stats(gt_ann, predictions[gt_ann["image_id"]], gt_folder, pred_folder, categories, stats)
    return {name: _average(stats, categories, isthing) for name, isthing in (("All", None), ("Things", True), ("Stuff", False))}
