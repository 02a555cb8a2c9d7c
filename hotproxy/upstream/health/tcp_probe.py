"""A TCP health check as bytes: ``send`` once connected, then pass when every ``receive``
payload has arrived, in order (Envoy's TcpHealthCheckMatcher: each payload is searched for
after the end of the previous one). No ``receive``: the connection itself is the pass."""
from __future__ import annotations

MAX_BUFFER = 64 * 1024


def received_all(buffer: bytes, receive) -> bool:
    start = 0
    for payload in receive:
        found = buffer.find(payload, start)
        if found < 0:
            return False
        start = found + len(payload)
    return True


class TcpMatcher:
    """Feed what the host sends; ``feed`` is True once everything expected has arrived."""

    def __init__(self, receive):
        self._receive = receive
        self._buffer = b""

    @property
    def needs_reply(self) -> bool:
        return bool(self._receive)

    def feed(self, data: bytes) -> bool:
        # keep only what a match can still use: at most MAX_BUFFER bytes
        self._buffer = (self._buffer + data)[-MAX_BUFFER:]
        return received_all(self._buffer, self._receive)
