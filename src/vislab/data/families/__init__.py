"""What the datasets of one kind of work share: per-image (classification) splits, per-pixel (segmentation)
splits and mask files, panoptic targets, domain splits, and image folders listed into splits."""
