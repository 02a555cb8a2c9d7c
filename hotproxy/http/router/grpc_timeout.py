"""grpc-timeout values, and the route timeout of the deprecated ``max_grpc_timeout``.

A route with ``max_grpc_timeout`` (and no ``max_stream_duration``, which voids it) gives a gRPC
request the route timeout its ``grpc-timeout`` says (none: 0, unlimited), less
``grpc_timeout_offset`` when that is smaller, then capped at the maximum (0: no cap), as Envoy's
FilterUtility::finalTimeout orders them; when it passes, the request times out as any route
timeout does (504 UT, UNAVAILABLE to a gRPC client), and the upstream is told the final value in
``grpc-timeout`` and ``x-envoy-expected-rq-timeout-ms``. ``max_stream_duration``'s
``grpc_timeout_header_max`` works on the stream's duration instead (http/stream_duration.py).
"""
from __future__ import annotations

from ..grpc import is_grpc
from .actions import CompiledRoute

#: milliseconds per grpc-timeout unit (gRPC over HTTP/2: TimeoutUnit); u and n round up
_UNIT_MS = {0x48: 3600000, 0x4D: 60000, 0x53: 1000, 0x6D: 1}
_SUB_MS = {0x75: 1000, 0x6E: 1000000}
#: a TimeoutValue has at most 8 digits
_MAX_VALUE = 99999999


def takes_grpc_timeout(route, headers):
    return route.grpc_timeout_max is not None and is_grpc(headers)


def grpc_timeout_ms(value):
    """Milliseconds of a ``grpc-timeout`` value (Envoy's Grpc::Common::getGrpcTimeout), None when
    it is absent or not one."""
    if not value or not value[:-1].isdigit() or len(value) > 9:
        return None
    amount = int(value[:-1])
    unit = value[-1]
    per_unit = _UNIT_MS.get(unit)
    if per_unit is not None:
        return amount * per_unit
    divisor = _SUB_MS.get(unit)
    return None if divisor is None else -(-amount // divisor)


def grpc_timeout_value(ms):
    """``ms`` as a grpc-timeout value, in the smallest unit that fits 8 digits (Envoy's
    Grpc::Common::toGrpcTimeout)."""
    units = b"mSMH"
    index = 0
    if ms > _MAX_VALUE:
        ms //= 1000
        index = 1
    while ms > _MAX_VALUE:
        if index == 3:
            ms = _MAX_VALUE
        else:
            ms //= 60
            index += 1
    return b"%d%c" % (ms, units[index])


def header_value(headers, name):
    for key, value in headers:
        if key == name:
            return value
    return None


def grpc_timed(route, headers):
    """A copy of ``route`` for one gRPC request, with the timeout its grpc-timeout makes."""
    ms = grpc_timeout_ms(header_value(headers, b"grpc-timeout")) or 0
    offset_ms = round(route.grpc_timeout_offset * 1000)
    if offset_ms and offset_ms < ms:
        ms -= offset_ms
    cap_ms = round(route.grpc_timeout_max * 1000)
    if cap_ms and (ms == 0 or ms > cap_ms):
        ms = cap_ms
    timed = GrpcTimedRoute.__new__(GrpcTimedRoute)
    for name in CompiledRoute.__slots__:
        if hasattr(route, name):
            setattr(timed, name, getattr(route, name))
    timed.timeout = ms / 1000
    timed.has_request_mutations = True
    timed.grpc_timeout_header = grpc_timeout_value(ms) if ms else None
    return timed


class GrpcTimedRoute(CompiledRoute):
    __slots__ = ("grpc_timeout_header",)

    def mutate_request(self, headers, weighted_entry, ctx):
        """The route's mutations, then the grpc-timeout the route timeout makes (Envoy's
        setTimeoutHeaders: sent whenever there is one, whether the client sent one or not)."""
        headers = CompiledRoute.mutate_request(self, headers, weighted_entry, ctx)
        value = self.grpc_timeout_header
        if value is None:
            return headers
        return [*(item for item in headers if item[0] != b"grpc-timeout"), (b"grpc-timeout", value)]
