"""A traced connection manager's log: every stream that ends is logged, and its span ends
there, before the access logs (if any) see it."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class TracedLogs:
    def __init__(self, loggers, tracer):
        self.loggers = loggers
        self.tracer = tracer

    def __bool__(self):
        return True

    def log(self, info):
        try:
            self.tracer.finish(info)
        except Exception:   # a span must never cost the stream its log, nor the worker its life
            log.exception("tracing: ending a span failed")
        if self.loggers:
            self.loggers.log(info)
