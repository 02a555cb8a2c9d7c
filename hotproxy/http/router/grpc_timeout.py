"""gRPC request timeouts, as the Envoy 1.40 binary applies them (probed) on a route with
``max_stream_duration.grpc_timeout_header_max`` (or the deprecated ``max_grpc_timeout``): a gRPC
request's timeout is its ``grpc-timeout`` header (none: unlimited), capped at the maximum (0: no
cap), less the offset when the offset is smaller; it replaces the route timeout. The upstream
gets the final value as ``grpc-timeout: <ms>m`` when the client sent one, and no
``x-envoy-expected-rq-timeout-ms`` (but for the deprecated field). When it passes, the gRPC
client is told DEADLINE_EXCEEDED (4) and ``downstream duration timeout``, as Envoy's stream
max-duration timer tells it (http/local_answer.py); the deprecated field times out as a route
timeout (UNAVAILABLE, ``upstream request timeout``)."""
from __future__ import annotations

from ..grpc import is_grpc
from .actions import CompiledRoute

#: grpc-timeout units (gRPC over HTTP/2: TimeoutUnit) in seconds
_UNITS = {0x48: 3600.0, 0x4D: 60.0, 0x53: 1.0, 0x6D: 1e-3, 0x75: 1e-6, 0x6E: 1e-9}


def takes_grpc_timeout(route, headers):
    return route.grpc_timeout_max is not None and is_grpc(headers)


def parse_grpc_timeout(value):
    """Seconds of a ``grpc-timeout`` value (1 to 8 digits and a unit), None when it is none."""
    if value is None or not 2 <= len(value) <= 9 or not value[:-1].isdigit():
        return None
    unit = _UNITS.get(value[-1])
    return None if unit is None else int(value[:-1]) * unit


def grpc_timed(route, headers):
    """A copy of ``route`` for one gRPC request, with the timeout its grpc-timeout makes."""
    sent = None
    for name, value in headers:
        if name == b"grpc-timeout":
            sent = value
            break
    timeout = parse_grpc_timeout(sent) or 0.0
    cap = route.grpc_timeout_max
    if cap and (timeout == 0 or timeout > cap):
        timeout = cap
    offset = route.grpc_timeout_offset
    if offset and offset < timeout:
        timeout -= offset
    timed = GrpcTimedRoute.__new__(GrpcTimedRoute)
    for name in CompiledRoute.__slots__:
        if hasattr(route, name):
            setattr(timed, name, getattr(route, name))
    timed.timeout = timeout
    timed.has_request_mutations = True
    timed.grpc_timeout_header = b"%dm" % round(timeout * 1000) if sent is not None and timeout else None
    return timed


class GrpcTimedRoute(CompiledRoute):
    __slots__ = ("grpc_timeout_header",)

    def mutate_request(self, headers, weighted_entry, ctx):
        """The route's mutations, then the timeout headers as Envoy sends them."""
        headers = CompiledRoute.mutate_request(self, headers, weighted_entry, ctx)
        value = self.grpc_timeout_header
        kept = []
        for name, header_value in headers:
            if name == b"grpc-timeout":
                if value is not None:
                    kept.append((name, value))
            elif name != b"x-envoy-expected-rq-timeout-ms" or self.grpc_timeout_announced:
                kept.append((name, header_value))
        return kept
