"""A worker's span reporter for one provider: spans queue as requests finish, and leave in
batches from a greenlet of their own, so that no request waits on a collector.

A batch leaves once ``min_flush_spans`` spans wait (runtime ``tracing.<provider>.min_flush_spans``,
5 as in Envoy) and at every flush interval (``tracing.<provider>.flush_interval_ms``, 5 s). One
report is out at a time: the spans that end meanwhile wait and leave together when it is
answered, so a busy worker sends fewer, larger batches than Envoy (which sends every batch at
once). At most ``MAX_PENDING`` spans wait: with a slow or dead collector the waiting batch is
dropped whole and counted as a failed report, so memory stays bounded whatever the collector
does, and no request ever waits for it.
"""
from __future__ import annotations

import logging

import gevent

from ..runtime import get_integer

log = logging.getLogger(__name__)

MAX_PENDING = 1000


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
        self.sending = False
        self._min_flush_key = f"tracing.{name}.min_flush_spans"
        self._timer = gevent.spawn(self._flush_periodically)

    def report(self, span):
        pending = self.pending
        pending.append(span)
        if len(pending) >= get_integer(self._min_flush_key, 5):
            if not self.sending:
                self.flush()
            elif len(pending) >= MAX_PENDING:
                self.pending = []
                self.stats.spans_sent += len(pending)
                self.count("failed", len(pending))  # as Envoy's async client past its breaker

    def flush(self):
        batch = self.pending
        if not batch or self.sending:
            return
        self.pending = []
        self.stats.spans_sent += len(batch)
        self.sending = True
        gevent.spawn(self._send, batch)

    def _send(self, batch):
        while batch:
            try:
                self.count(self.export(batch), len(batch))
            except Exception:   # a collector's answer must never take the worker down
                log.exception("tracing: exporting %d spans failed", len(batch))
                self.count("failed", len(batch))
            batch = None
            pending = self.pending
            if len(pending) >= get_integer(self._min_flush_key, 5):
                batch, self.pending = pending, []
                self.stats.spans_sent += len(batch)
        self.sending = False

    def _flush_periodically(self):
        while True:
            gevent.sleep(get_integer(f"tracing.{self.name}.flush_interval_ms", 5000) / 1000)
            self.stats.timer_flushed += 1
            self.flush()

    def stop(self):
        self._timer.kill(block=False)
