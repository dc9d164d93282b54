"""Files and numbers below every dataset: reading images, downloads, channel statistics, the embedded digits,
and the identity of a run's data."""
