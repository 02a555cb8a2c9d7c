"""A worker's span reporter for one provider: spans queue as requests finish, and leave in
batches from greenlets of their own, so that no request waits on a collector.

A batch leaves once ``min_flush_spans`` spans wait (runtime ``tracing.<provider>.min_flush_spans``,
5 as in Envoy) and at every flush interval (``tracing.<provider>.flush_interval_ms``, 5 s). At
most ``MAX_IN_FLIGHT`` batches are out at once: with a slow or dead collector the next batches
are dropped and counted as failed reports, so memory stays bounded by
(``MAX_IN_FLIGHT`` + 1) batches whatever the collector does.
"""
from __future__ import annotations

import logging

import gevent

from ..runtime import get_integer

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 8


class Reporter:
    """``export(spans)`` encodes and sends one batch, returning exporters.py's outcome;
    ``count(outcome, spans)`` counts it (``spans``: how many the batch held). ``stats`` has
    spans_sent and timer_flushed."""

    def __init__(self, name, stats, export, count):
        self.name = name
        self.stats = stats
        self.export = export
        self.count = count
        self.pending = []
        self.in_flight = 0
        self._timer = gevent.spawn(self._flush_periodically)

    def report(self, span):
        pending = self.pending
        pending.append(span)
        if len(pending) >= get_integer(f"tracing.{self.name}.min_flush_spans", 5):
            self.flush()

    def flush(self):
        batch = self.pending
        if not batch:
            return
        self.pending = []
        self.stats.spans_sent += len(batch)
        if self.in_flight >= MAX_IN_FLIGHT:
            self.count("failed", len(batch))   # as Envoy's async client fails past its breaker
            return
        self.in_flight += 1
        gevent.spawn(self._send, batch)

    def _send(self, batch):
        try:
            self.count(self.export(batch), len(batch))
        except Exception:   # a collector's answer must never take the worker down
            log.exception("tracing: exporting %d spans failed", len(batch))
            self.count("failed", len(batch))
        finally:
            self.in_flight -= 1

    def _flush_periodically(self):
        while True:
            gevent.sleep(get_integer(f"tracing.{self.name}.flush_interval_ms", 5000) / 1000)
            self.stats.timer_flushed += 1
            self.flush()

    def stop(self):
        self._timer.kill(block=False)
