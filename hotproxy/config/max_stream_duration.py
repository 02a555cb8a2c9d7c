"""route.v3.RouteAction.MaxStreamDuration, parsed.

Its presence alone changes a route in Envoy 1.40 (RouteEntry::usingNewTimeouts): the route's
``timeout`` and the deprecated ``max_grpc_timeout`` no longer apply, and a gRPC request's
``grpc-timeout`` is rewritten to the stream's limit (http/stream_duration.py)."""
from __future__ import annotations

from dataclasses import dataclass

from .fields import Fields, Node

MAX_STREAM_DURATION = Fields(
    "max_stream_duration grpc_timeout_header_max grpc_timeout_header_offset")


@dataclass(frozen=True)
class MaxStreamDuration:
    """Seconds. ``limit``: the route's max_stream_duration (None: the connection manager's
    applies; 0: no limit for the route). ``grpc_header_max``: None unless the request's
    grpc-timeout sets the limit, capped at it (0: no cap); ``grpc_header_offset`` is taken off."""
    limit: float | None = None
    grpc_header_max: float | None = None
    grpc_header_offset: float | None = None


def max_stream_duration(node: Node) -> MaxStreamDuration | None:
    m = node.message(MAX_STREAM_DURATION)
    if m is None:
        return None
    return MaxStreamDuration(m.duration("max_stream_duration"),
                             m.duration("grpc_timeout_header_max"),
                             m.duration("grpc_timeout_header_offset"))
