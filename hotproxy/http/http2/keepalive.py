"""HTTP/2 connection keepalive (``http2_protocol_options.connection_keepalive``), as Envoy's: a
PING every ``interval`` (jittered), and a connection whose PING is not answered within
``timeout`` is closed (no GOAWAY) and counted in ``http2.keepalive_timeout``. A watcher of the
worker's Deadlines beside its connection: no timer per wait."""
from __future__ import annotations

import os
import random
import time

from ...deadlines import NEVER


class Keepalive:
    __slots__ = ("connection", "options", "deadline", "opaque")

    def __init__(self, connection, options):
        self.connection = connection
        self.options = options
        self.opaque = None          # the PING awaiting its ack
        self.deadline = self._next_ping(time.monotonic())

    def _next_ping(self, now):
        interval = self.options.keepalive_interval
        if not interval:
            return NEVER
        jitter = self.options.keepalive_jitter
        return now + interval * (1 + random.uniform(-jitter, jitter))

    def expire(self):
        """The Deadlines' call: time for a PING, or the last one went unanswered."""
        connection = self.connection
        if self.opaque is not None:
            self.deadline = NEVER
            connection.hcm.http2_stats.keepalive_timeout += 1
            connection.abort("keepalive timeout")
            return
        self.opaque = os.urandom(8)
        self.deadline = time.monotonic() + self.options.keepalive_timeout
        connection.codec.ping(self.opaque)
        try:
            connection.flush()
        except OSError:
            connection.abort("connection termination")

    def acked(self, opaque):
        if opaque == self.opaque:
            self.opaque = None
            self.deadline = self._next_ping(time.monotonic())
