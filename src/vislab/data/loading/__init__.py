"""From splits to batches: the seeded splits, folds and labeled subsets of the training split, the batch
samplers drawn from (seed, epoch), and the loader."""
