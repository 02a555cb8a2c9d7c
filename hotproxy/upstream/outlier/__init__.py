"""Outlier detection, decided once per cluster in the arbiter and applied in every worker.

- ``outcomes``: how an attempt's outcome travels (codes, the worker's batching ``OutcomeReporter``).
- ``monitor``: one host's consecutive-failure counters, success-rate buckets and ejection backoff.
- ``detector``: Envoy's DetectorImpl without I/O: the consecutive detectors, the interval's success
  rate and failure percentage, ejection, unejection, and the ``outlier_detection.*`` stats.
"""
