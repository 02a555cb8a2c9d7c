"""Active health checking, run once per cluster in the arbiter (process/health.py pushes the
results to the workers).

- ``state``: one host's health, Envoy's thresholds and flags (sans-IO).
- ``schedule``: which interval comes next, with jitter (sans-IO).
- ``http_probe`` / ``tcp_probe``: the bytes a check sends and the verdict on what comes back
  (sans-IO).
- ``events``: the event log's JSON lines (sans-IO).
- ``session``: one host's check loop on a gevent socket; ``checker``: a cluster's sessions, its
  membership (DNS resolved here too) and its stats.
"""
