"""The statistics behind `vislab compare` and `--seeds auto`: over seeds, over test images, over tasks, and how
many seeds."""
