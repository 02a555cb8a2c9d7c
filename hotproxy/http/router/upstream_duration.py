"""A cluster's ``common_http_protocol_options.max_stream_duration``: how long one upstream request
may last, as Envoy 1.40's router bounds it (UpstreamRequest's max stream duration timer, probed on
the binary).

The limit runs from the moment the attempt has its connection (an HTTP/2 stream slot) to the end
of the upstream's response; a limit of 0 is none. It rides on the deadline the exchange already
waits under (the sooner of the route's, the per-try and the idle one): a timeout at or past this
limit, with no sooner deadline of the others, is this limit's. Then
``cluster.<name>.upstream_rq_max_duration_reached`` counts it, the upstream stream is reset
(HTTP/2: RST_STREAM INTERNAL_ERROR; HTTP/1.1: the connection closes), and a route with a retry
policy retries it as a local reset (``reset`` and ``5xx`` take it). Otherwise the client gets a
local reply ``upstream max stream duration reached``: 504 when its request was complete when the
limit passed, 408 (and the connection closes) while it was still arriving; with the response
started, its stream is reset (HTTP/2) or its connection closed (HTTP/1.1). The response flag is
``UMSDR``, the details ``upstream_max_stream_duration_reached``. Envoy charges no
``upstream_rq_<code>`` to the cluster for that reply.
"""
from __future__ import annotations

import time

from ...deadlines import NEVER

BODY = b"upstream max stream duration reached"
DETAILS = "upstream_max_stream_duration_reached"
FLAG = "UMSDR"


def limit_from_now(cluster):
    """The limit of an attempt that has just got its connection (NEVER: the cluster sets none)."""
    limit = cluster.config.max_stream_duration
    return time.monotonic() + limit if limit else NEVER


def passed(limit_at, other_deadline=NEVER):
    """Whether a timeout that just fired was this limit's: it has passed, and the exchange's
    other deadline (whichever else it waited under) was not sooner."""
    return limit_at <= other_deadline and time.monotonic() >= limit_at


def reached(router, stream):
    """Count it and reset the upstream stream (the connection of an HTTP/1.1 one)."""
    stream.cluster.stats.upstream_rq_max_duration_reached += 1
    router._release(stream, False)


def answer(stream, conn, limit_at, complete_at, leading_flags=()):
    """The client's outcome once no retry follows: the local reply, or with the response
    started, the end of its stream (``stream.close``). ``complete_at``: when the request was
    complete (NEVER: it is still arriving). Raises CloseConnection as local replies do."""
    stream.info.response_code_details = DETAILS
    for flag in leading_flags:
        stream.flag(flag)
    if stream.responded:
        stream.flag(FLAG)
        stream.close = True
        return
    on_time = complete_at <= limit_at
    conn.local_reply(stream, 504 if on_time else 408, BODY, close=not on_time or stream.close,
                     flag=FLAG)
