"""Learning beyond labels, written once for every task: FixMatch, Mean Teacher, Noisy Student and
distillation (losses, strong views, CutMix consistency, teachers from finished runs)."""
