"""Content-Length bodies spliced from one plain socket to the other (network/splice.py): the
bytes go socket -> pipe -> socket and never enter Python (issue 23's zero-copy bodies).

Only where nothing in between looks at them: both connections plain TCP (HTTP/1.1 on both
sides), no HTTP filter on the stream, no retry replay or mirror keeping a copy of the request
body, a Content-Length framing (no chunks, no trailers), and at least ``SPLICE_MIN`` bytes left
after what was read with the head (those went first, through Python). Below it, two splices and
their waits cost as much as a recv and a send of bytes already in user space, and save no copy
worth it (bench/splice_threshold.py; docs/benchmarks.md).

The access log's byte counts are kept per piece moved, so an exchange cut short counts exactly
what went through. A piece waiting in the pipe for its destination counts as the stream's
buffered bytes, as a piece in a Python buffer does (the overload manager's
reset_high_memory_stream weighs them).
"""
from __future__ import annotations

import gevent

from ...network import splice
from ...upstream.http2_request import Request as H2Request
from .retry import UpstreamReset

#: the least body (past what came with the head) that is spliced
SPLICE_MIN = 32 * 1024
#: bytes moved before a busy exchange yields to other greenlets (fairness)
_YIELD_EVERY = 1 << 20


def response_spliceable(conn, upstream, remaining):
    """Whether the rest of a response body (raw framing: no filters) can be spliced."""
    return (remaining >= SPLICE_MIN and splice.AVAILABLE and conn.tls is None
            and not upstream.tls and conn.send_body is not None)


def response_rest(stream, conn, remaining, refresh):
    """Splice the ``remaining`` response body bytes from the upstream to the client.
    ``refresh()`` sets the exchange's deadline again after each piece (the idle timeout)."""
    if not _splice(stream, stream.upstream.sock, conn.sock, remaining, False, refresh):
        raise UpstreamReset("connection termination")


def request_spliceable(router, stream, conn):
    """Whether the rest of this request's body can be spliced to its upstream now."""
    head = stream.head
    length = head.content_length
    if (not length or stream.chunked or conn.protocol != "HTTP/1.1"     # an h2 head's length is bytes
            or length - stream.info.bytes_received < SPLICE_MIN):
        return False
    upstream = stream.upstream
    return (splice.AVAILABLE and stream.filters is None and upstream is not None
            and upstream.__class__ is not H2Request and not upstream.tls
            and conn.tls is None and stream not in router.replays and stream not in router.mirroring)


def request_rest(stream, conn):
    """Splice the rest of the request body from the client to the upstream; then the request
    decoder ends the request (its END event waits in ``conn.decoder.events``).

    A client that closes early leaves the request unfinished (the connection's next read sees
    the EOF, as without splicing); a client reset raises its OSError; an upstream that fails to
    take the body raises ``UpstreamReset`` (the router answers 503 and closes: the body is
    cut)."""
    def refresh():
        stream.body_sent = True
        conn.deadline = conn._read_deadline()  # the stream idle / request timeouts

    remaining = stream.head.content_length - stream.info.bytes_received
    if _splice(stream, conn.sock, stream.upstream.sock, remaining, True, refresh):
        conn.decoder.body_consumed()


def _splice(stream, src, dst, remaining, upward, refresh):
    """Splice ``remaining`` bytes from socket ``src`` to socket ``dst``, piece by piece, calling
    ``refresh()`` after each; False when ``src`` reached its EOF first. ``upward``: the client is
    ``src`` (its bytes count as received when they are read, and ``dst``, the upstream, failing
    to take them raises UpstreamReset); else ``dst`` (its bytes count as sent once they went)."""
    info = stream.info
    pipe = splice.take()
    try:
        src_fd, dst_fd = src.fileno(), dst.fileno()
        most = pipe.size
        since_yield = 0
        while remaining:
            moved = pipe.fill(src, src_fd, remaining if remaining < most else most)
            if not moved:
                return False
            if upward:
                info.bytes_received += moved
            stream.buffered = moved     # held for dst (overload: reset_high_memory_stream)
            try:
                pipe.drain(dst, dst_fd)
            except OSError:
                if upward:
                    raise UpstreamReset("connection termination") from None
                raise
            finally:
                if not upward:
                    info.bytes_sent += moved - pipe.held   # exact, should the client go away
            stream.buffered = 0
            remaining -= moved
            since_yield += moved
            if since_yield >= _YIELD_EVERY:
                since_yield = 0
                gevent.sleep(0)
            refresh()
        return True
    finally:
        stream.buffered = 0
        splice.give_back(pipe)
