"""max_stream_duration: how long a downstream stream may last, as the Envoy 1.40 binary bounds it.

The connection manager's ``common_http_protocol_options.max_stream_duration`` bounds every
stream from its start. A route with ``max_stream_duration`` replaces it with its own
(``max_stream_duration``: 0 is none) or, where it has ``grpc_timeout_header_max``, with a
request's ``grpc-timeout`` (capped, 0 no cap; less ``grpc_timeout_header_offset``, down to 0)
(Envoy's ActiveStream::refreshDurationTimeout); such a route also rewrites a gRPC request's
grpc-timeout to the limit it set, or removes it where the route lifts the connection manager's.

When the limit passes (ActiveStream::onStreamMaxDurationReached),
``downstream_rq_max_duration_reached`` counts it and the access log says ``max_duration_timeout``, with no response flag; a stream whose
response has not started is answered ``downstream duration timeout``, 504 once its request was
whole, 408 while it still arrives (gRPC: DEADLINE_EXCEEDED in a trailers-only response); one
whose response has started is reset (HTTP/2: RST_STREAM INTERNAL_ERROR; HTTP/1.1: the
connection closes).

A connection manager without such a limit anywhere has no StreamLimits (conn_manager.py): its
streams pay one test for it.
"""
from __future__ import annotations

from ..deadlines import NEVER
from . import local_reply
from .control import CloseConnection
from .grpc import is_grpc
from .router.grpc_timeout import grpc_timeout_ms, grpc_timeout_value, header_value
from .router.route_table import ROUTE

#: %RESPONSE_CODE_DETAILS% of a stream ended by its max duration
MAX_DURATION_TIMEOUT = "max_duration_timeout"


class StreamDurationReached(BaseException):
    """Thrown into the greenlet of a stream whose max duration passed. A BaseException, as
    gevent.Timeout is: a filter's ``except Exception`` does not take it for its own failure."""


def limit_ms(route, headers, hcm_limit_ms):
    """The stream's limit in milliseconds (0: it has passed), None for none. ``route`` is its
    CompiledRoute (None: no route), ``hcm_limit_ms`` the connection manager's (0: none)."""
    limits = _route_limits(route)
    if limits is None:
        return hcm_limit_ms or None
    sent = grpc_timeout_ms(header_value(headers, b"grpc-timeout"))
    if sent is None or limits.grpc_header_max is None:
        if limits.limit is not None:
            return round(limits.limit * 1000) or None
        return hcm_limit_ms or None
    cap = round(limits.grpc_header_max * 1000)
    ms = cap if cap and sent > cap else sent
    offset = round((limits.grpc_header_offset or 0) * 1000)
    if ms and offset:
        ms = ms - offset if offset < ms else 0
    return ms


def _route_limits(route):
    """The route's MaxStreamDuration, None when it has none (or is no route to a cluster)."""
    if route is None or route.kind is not ROUTE:
        return None
    return route.config.route.max_stream_duration


def tell_grpc_upstream(headers, ms, hcm_limit_ms):
    """A gRPC request on a route with max_stream_duration: its grpc-timeout says the limit (set
    before the time already spent is taken off, as Envoy sets it), or goes when the route lifts
    the connection manager's limit."""
    kept = [item for item in headers if item[0] != b"grpc-timeout"]
    if ms is not None:
        kept.append((b"grpc-timeout", grpc_timeout_value(ms)))
    elif not hcm_limit_ms:
        return      # no timer was running: Envoy leaves the header as it came
    headers[:] = kept


class StreamLimits:
    """The streams' timers of one connection manager, watched by the worker's Deadlines. An
    owner is what runs a stream: an HTTP/1.1 DownstreamConnection (one timer for its streams
    one after another) or an HTTP/2 StreamPort; it has ``stream`` and ``greenlet``."""

    def __init__(self, hcm_limit, deadlines):
        self.hcm_limit_ms = round(hcm_limit * 1000)
        self.deadlines = deadlines
        self.timers = {}

    def arm(self, owner, stream):
        """``stream`` of ``owner`` was routed: start its limit. Called in the stream's greenlet,
        which it ends at once (StreamDurationReached) when the limit is 0 already."""
        route = stream.route
        headers = stream.head.headers
        ms = limit_ms(route, headers, self.hcm_limit_ms)
        if _route_limits(route) is not None and is_grpc(headers):
            tell_grpc_upstream(headers, ms, self.hcm_limit_ms)
        timer = self.timers.get(owner)
        if ms is None:
            if timer is not None:
                timer.deadline = NEVER
            return
        if ms == 0:
            raise StreamDurationReached()   # Envoy's timer of 0 fires before any response
        if timer is None:
            timer = self.timers[owner] = _Timer(owner)
            self.deadlines.watch(timer)
        timer.stream = stream
        timer.deadline = stream.start + ms / 1000

    def disarm(self, owner):
        """``owner`` ends: its timer goes."""
        timer = self.timers.pop(owner, None)
        if timer is not None:
            self.deadlines.unwatch(timer)


    def clear(self):
        for owner in list(self.timers):
            self.disarm(owner)


class _Timer:
    __slots__ = ("owner", "stream", "deadline")

    def __init__(self, owner):
        self.owner = owner
        self.stream = None
        self.deadline = NEVER

    def expire(self):
        self.deadline = NEVER
        owner = self.owner
        if owner.stream is self.stream:     # not a stream that ended since
            owner.greenlet.kill(StreamDurationReached(), block=False)


def answer(conn, stream, close):
    """Count the stream's end and answer it if its response has not started; True when it was
    answered, False when the caller resets it."""
    conn.hcm.stats.downstream_rq_max_duration_reached += 1
    stream.info.response_code_details = MAX_DURATION_TIMEOUT
    if stream.responded:
        return False
    try:
        conn.local_reply(stream, 504 if stream.body_done else 408, local_reply.DURATION_TIMEOUT,
                         close=close)
    except CloseConnection:
        pass
    return True


def end_http1(conn):
    """An HTTP/1.1 connection's stream reached its limit: answered, then the connection closes
    (Envoy keeps it open after a 504; hotproxy cannot resume its read loop there), or, with the
    response started, closed at once."""
    stream = conn.stream
    if stream is None:
        return      # thrown just as its stream ended (kill lands at the next wait): nothing to end
    if answer(conn, stream, close=True):
        if conn.hcm.logging:
            conn.log(stream)    # before the delayed close, which is not the request's time
        conn.close()


def stream_limits(hcm_limit, route_config, deadlines):
    """The StreamLimits of a connection manager whose config or routes set one, else None."""
    routes_have = any(route.route is not None and route.route.max_stream_duration is not None
                      for vhost in route_config.virtual_hosts for route in vhost.routes)
    return StreamLimits(hcm_limit, deadlines) if hcm_limit or routes_have else None
