"""A span as the tracer builds it on the request path: plain slots, encoded only when its batch
leaves (zipkin.py, otlp.py)."""
from __future__ import annotations

from random import getrandbits

SERVER, CLIENT = "SERVER", "CLIENT"


def new_id():
    """A random non-zero 64-bit id."""
    value = getrandbits(64)
    return value or 1


class Span:
    """``trace_id`` is an int of 64 or 128 bits (``wide``: print it as 32 hex digits);
    ``parent_id`` 0 for a root; ``shared``: Zipkin's shared span context (the id is the
    caller's); times are wall-clock microseconds. ``tracestate``: W3C's, passed on as it came.
    ``sampled``: whether the span is reported (and what the next hop hears)."""

    __slots__ = ("name", "trace_id", "wide", "span_id", "parent_id", "shared", "kind",
                 "start_us", "duration_us", "tags", "sampled", "tracestate", "annotations")

    def __init__(self, name, trace_id, wide, span_id, parent_id, kind, start_us, sampled,
                 shared=False, tracestate=b""):
        self.name = name
        self.trace_id = trace_id
        self.wide = wide
        self.span_id = span_id
        self.parent_id = parent_id
        self.shared = shared
        self.kind = kind
        self.start_us = start_us
        self.duration_us = 0
        self.tags = {}
        self.sampled = sampled
        self.tracestate = tracestate
        self.annotations = None     # [(wall µs, text)] of a verbose span

    @property
    def trace_hex(self):
        return "%032x" % self.trace_id if self.wide else "%016x" % self.trace_id

    def annotate(self, at_us, text):
        if self.annotations is None:
            self.annotations = []
        self.annotations.append((at_us, text))
