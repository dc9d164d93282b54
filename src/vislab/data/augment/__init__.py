"""Augmentation: one plan from ``aug.*``, executed per sample (plain torchvision v2) or per batch (in-memory
splits), CutMix/MixUp per batch, and ``vislab augment``'s preview."""
