"""`vislab sweep`: an Optuna study over a grid (or a TPE search), one module per concern (spec, storage, lock,
liveness, study, claims, workers, display, summary); driver.py runs it."""
