"""Attempt outcomes as they travel from the workers to the arbiter, and the worker's batching.

An outcome is an HTTP status (int >= 100) or a local-origin event, coded as a negative int so
that a batch is a list of ints: CONNECT_FAILURE (connecting failed: Envoy's
LOCAL_ORIGIN_CONNECT_FAILED, also what the router reports for a reset), TIMEOUT
(LOCAL_ORIGIN_TIMEOUT) and SUCCESS (LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL: the TCP proxy connected).
IMMEDIATE_HC_FAIL rides along for the active health checker, which outlier detection ignores.

Each worker keeps the outcomes of its hosts in arrival order and sends them (``send(batch)``)
``REPORT_DELAY_S`` after the first one of a batch, so a burst costs one message. The arbiter's
detector sees every worker's outcomes of a host in one sequence, as Envoy's per-host atomic
counters do; a consecutive-failure ejection therefore lags the Nth failure by at most
REPORT_DELAY_S plus one channel hop.
"""
from __future__ import annotations

import gevent

CONNECT_FAILURE = -1
TIMEOUT = -2
SUCCESS = -3
#: not an outlier outcome: a response said x-envoy-immediate-health-check-fail; it travels with
#: the outcomes to the arbiter's health checker (upstream/health/passive.py)
IMMEDIATE_HC_FAIL = -4
LOCAL_EVENTS = {"connect_failure": CONNECT_FAILURE, "reset": CONNECT_FAILURE,
                "timeout": TIMEOUT, "success": SUCCESS}
#: how long a worker gathers outcomes before it sends them
REPORT_DELAY_S = 0.005


def code_of(outcome) -> int:
    """``record_outcome``'s outcome (an int status or an event name) as a wire code."""
    if type(outcome) is int:
        return outcome
    return LOCAL_EVENTS[outcome]


class OutcomeReporter:
    """A worker's outcomes of one cluster's hosts, batched: ``{address: [code, ...]}``."""

    __slots__ = ("name", "_batch", "_send", "_timer")

    def __init__(self, name, send):
        """``send(cluster_name, {"ip:port": [codes]})`` ships one batch."""
        self.name = name
        self._batch = {}
        self._send = send
        self._timer = None

    def record(self, host, outcome):
        batch = self._batch
        codes = batch.get(host.label)
        if codes is None:
            codes = batch[host.label] = []
            if self._timer is None:
                self._timer = gevent.spawn_later(REPORT_DELAY_S, self.flush)
        codes.append(outcome if type(outcome) is int else LOCAL_EVENTS[outcome])

    def flush(self):
        self._timer = None
        batch, self._batch = self._batch, {}
        if batch:
            self._send(self.name, batch)
