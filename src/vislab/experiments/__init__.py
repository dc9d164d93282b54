"""Sweeps over settings and seeds (an Optuna study of ordinary runs), and comparisons with honest statistics.

    sweep/     what a sweep varies, its spec, study storage, claims, worker processes and display
    stats/     the statistics: over seeds (t-tests, Holm), over images (bootstrap), aggregates, sequential plans
    compare/   runs grouped by their differing settings, the tables (per group, per image, per class, per domain)
    report/    the comparison's report, the data check's report, and the board
    crossval.py, label_issues.py, selftrain.py   verbs built on a sweep

Nothing is imported here, so that a sweep's worker processes do not pay for scipy and `vislab` stays quick
to import; ``vislab.sweep`` and ``vislab.compare`` load these modules on first use.
"""
