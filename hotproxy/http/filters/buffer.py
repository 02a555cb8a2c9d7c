"""The buffer filter (envoy.filters.http.buffer) as in Envoy 1.40: a request with a body goes on
only once all of it has arrived, with a Content-Length when it had none; past
max_request_bytes it is answered 413 "Payload Too Large" (Envoy's connection manager answers
so when a filter's buffer limit is passed). BufferPerRoute disables it on a route or sets the
route's own limit."""
from __future__ import annotations

from .api import CONTINUE, STOP, FilterFactory, HttpFilter, header_value
from .route_policy import route_config


def factory(config, context):
    return BufferFactory(config)


class BufferFactory(FilterFactory):
    def __init__(self, config):
        self.name = ""
        self._limit = config.max_request_bytes

    def create(self, stream):
        per_route = route_config(stream, self.name)
        if per_route is None:
            return BufferFilter(self._limit)
        if per_route.buffer is None:
            return None
        return BufferFilter(per_route.buffer.max_request_bytes)


class BufferFilter(HttpFilter):
    __slots__ = ("limit", "received")

    def __init__(self, limit):
        self.limit = limit
        self.received = 0

    def decode_headers(self, stream, end_stream):
        return CONTINUE if end_stream else STOP

    def decode_data(self, stream, data, end_stream):
        self.received += len(data)
        if self.received > self.limit:
            return stream.send_local_reply(413, b"Payload Too Large",
                                           details="request_payload_too_large")
        if not end_stream:
            return STOP
        headers = stream.request.headers
        if header_value(headers, b"content-length") is None:
            # The whole body goes on in one piece now: length-delimited, no longer chunked.
            headers.append((b"content-length", b"%d" % self.received))
        return CONTINUE
