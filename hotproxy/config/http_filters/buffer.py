"""Parser for the buffer filter (envoy.extensions.filters.http.buffer.v3): ``Buffer`` and the
per-route ``BufferPerRoute`` (disabled, or a Buffer of its own)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fields import Fields, Node

BUFFER = Fields("max_request_bytes")
BUFFER_PER_ROUTE = Fields("disabled buffer")


@dataclass(frozen=True)
class Buffer:
    runtime: ClassVar[str] = "buffer"
    max_request_bytes: int


@dataclass(frozen=True)
class BufferPerRoute:
    """``buffer`` None: the filter is disabled for the route."""
    runtime: ClassVar[str] = "buffer"
    buffer: Buffer | None


def parse(node: Node) -> Buffer | None:
    m = node.message(BUFFER)
    if m is None:
        return None
    limit = m.uint32("max_request_bytes", required=True, minimum=1)
    return None if limit is None else Buffer(limit)


def parse_per_route(node: Node) -> BufferPerRoute | None:
    m = node.message(BUFFER_PER_ROUTE)
    if m is None:
        return None
    kind = m.one_of("disabled", "buffer")
    if kind == "disabled":
        if m.boolean("disabled") is False:
            m.at("disabled").fail("must be true (set buffer to buffer on this route)")
            return None
        return BufferPerRoute(None)
    buffer = m.nested("buffer", parse)
    return None if buffer is None else BufferPerRoute(buffer)
