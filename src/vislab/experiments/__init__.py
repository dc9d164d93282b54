"""Sweeps over settings and seeds (an Optuna study of ordinary runs), and comparisons with honest statistics.

Nothing is imported here, so that a sweep's worker processes do not pay for scipy and `vislab` stays quick
to import; ``vislab.sweep`` and ``vislab.compare`` load these modules on first use.
"""
