"""Learning beyond labels, written once for every task: the ``Scheme`` protocol (scheme.py), one module per scheme
(fixmatch.py, mean_teacher.py, noisy_student.py, distillation.py), ``SCHEMES`` and the task wrapper (task.py),
and what they share: losses, strong views, CutMix consistency, teachers from finished runs. settings.py checks the
schemes' keys on the config alone, before torch is imported."""
