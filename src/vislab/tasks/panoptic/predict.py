"""Post-processing of the heads into panoptic predictions: centers, grouping, majority class."""

from __future__ import annotations

import torch
import torch.nn.functional as F



NMS_KERNEL, CENTER_THRESHOLD, TOP_K = 7, 0.1, 200


def find_centers(heatmap: torch.Tensor, threshold: float = CENTER_THRESHOLD, kernel: int = NMS_KERNEL,
                 top_k: int = TOP_K) -> torch.Tensor:
    """Instance centers [N, 2] (y, x) from a heatmap [H, W]: local maxima in a ``kernel`` window above
    ``threshold``, at most ``top_k`` of them, highest first."""
    pooled = F.max_pool2d(heatmap[None, None], kernel, stride=1, padding=kernel // 2)[0, 0]
    peaks = (heatmap == pooled) & (heatmap > threshold)
    ys, xs = peaks.nonzero(as_tuple=True)
    order = heatmap[ys, xs].argsort(descending=True)[:top_k]
    return torch.stack([ys[order], xs[order]], 1)


def group_pixels(centers: torch.Tensor, offset: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Instance ids [H, W] (1..N; 0 outside ``where`` [H, W]): each pixel joins the center [N, 2] nearest
    to where its offset [2, H, W] points."""
    H, W = where.shape
    ids = torch.zeros(H, W, dtype=torch.long, device=where.device)
    if not len(centers) or not bool(where.any()):
        return ids
    ys, xs = where.nonzero(as_tuple=True)
    pointed = torch.stack([ys, xs], 1).float() + offset[:, ys, xs].T.float()  # [P, 2]
    ids[ys, xs] = torch.cdist(pointed, centers.float()).argmin(1) + 1
    return ids


def panoptic_maps(semantic: torch.Tensor, center: torch.Tensor, offset: torch.Tensor, things: torch.Tensor,
                  ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(classes [H,W], instance ids [H,W]) from semantic class ids [H,W], a center heatmap [H,W] and offsets
    [2,H,W]: thing pixels are grouped around the centers, each instance taking the majority class of its
    pixels; thing pixels with no center at all are void."""
    thing = torch.isin(semantic, things.to(semantic.device))
    instance = group_pixels(find_centers(center), offset, thing)
    classes = torch.where(thing, ignore_index, semantic)
    if bool(thing.any()) and int(instance.max()) > 0:
        k = int(semantic.max()) + 1
        votes = torch.bincount(instance[thing] * k + semantic[thing], minlength=(int(instance.max()) + 1) * k)
        majority = votes.view(-1, k).argmax(1)  # [N + 1], by instance id
        classes = torch.where(thing, majority[instance], classes)
    return classes, instance
