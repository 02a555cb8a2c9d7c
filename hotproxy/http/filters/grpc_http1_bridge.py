"""The gRPC HTTP/1.1 bridge (envoy.filters.http.grpc_http1_bridge) as in Envoy 1.40 (probed on
its binary): an HTTP/1.1 client that cannot read trailers gets a gRPC answer's outcome in the
response head instead.

For a gRPC request (content-type application/grpc, +codec, ;params) over HTTP/1.x, the answer
is held until its trailers: grpc-status and grpc-message are copied into its head, the status
becomes 503 when grpc-status is not 0, and content-length is set to the body held. A
trailers-only answer, and one that ends without trailers, pass as they are. The body held is
bounded by ``BODY_LIMIT``: past it the answer goes on unbridged (Envoy would answer 500).

``upgrade_protobuf_to_grpc``: an application/x-protobuf request becomes a gRPC one (the body,
held whole and bounded by ``BODY_LIMIT``, goes up as one message; 413 past it) and the answer's
body loses its message header. ``ignore_query_parameters``: a bridged request goes upstream
without its query string. No stats: the 1.40 binary counts none.
"""
from __future__ import annotations

import struct

from ..grpc import is_grpc
from .api import CONTINUE, STOP, FilterFactory, HttpFilter, header_value, remove_header, set_header

PROTOBUF = b"application/x-protobuf"
#: the most of a body the bridge holds (Envoy's default per-connection buffer limit)
BODY_LIMIT = 1024 * 1024
_MESSAGE_HEADER = 5


def factory(config, context):
    return GrpcHttp1BridgeFactory(config)


class GrpcHttp1BridgeFactory(FilterFactory):
    def __init__(self, config):
        self.name = ""
        self.config = config

    def create(self, stream):
        content_type = header_value(stream.request.headers, b"content-type")
        framing = self.config.upgrade_protobuf_to_grpc and content_type == PROTOBUF
        if not framing and not is_grpc(stream.request.headers):
            return None
        return GrpcHttp1BridgeFilter(self.config, framing)


class GrpcHttp1BridgeFilter(HttpFilter):
    __slots__ = ("config", "framing", "bridging", "held", "response", "trailed")

    def __init__(self, config, framing):
        self.config = config
        self.framing = framing      # a protobuf request sent up as one gRPC message
        self.bridging = False       # the answer's trailers go into its head
        self.held = None            # the body held (request while framing, then response)
        self.response = None
        self.trailed = False        # the answer's trailers came

    def decode_headers(self, stream, end_stream):
        request = stream.request
        if self.framing:
            set_header(request.headers, b"content-type", b"application/grpc")
            remove_header(request.headers, b"content-length")
            stream.clear_route_cache()
            self.held = bytearray()
        self.bridging = stream.connection.protocol != "HTTP/2"
        if self.bridging and self.config.ignore_query_parameters:
            # the router sends stream.target (the normalized one) upstream
            request.target = request.target.split(b"?", 1)[0]
            stream.target = stream.target.split(b"?", 1)[0]
        return CONTINUE

    def decode_data(self, stream, data, end_stream):
        if not self.framing:
            return CONTINUE
        held = self.held
        held += data
        if len(held) > BODY_LIMIT:
            return stream.send_local_reply(413, b"Payload Too Large",
                                           details="request_payload_too_large")
        if not end_stream:
            return STOP
        self.held = None
        return struct.pack(">BI", 0, len(held)) + held

    def encode_headers(self, stream, response, end_stream):
        if not self.bridging or end_stream:
            return CONTINUE
        self.response, self.held = response, bytearray()
        return STOP

    def encode_data(self, stream, data, end_stream):
        held = self.held
        if held is None:
            return CONTINUE
        held += data
        if len(held) > BODY_LIMIT:
            self.held = None        # too big to hold: it goes on as it is
            return CONTINUE
        if not end_stream:
            return STOP
        self.held = None
        if self.framing and self.trailed:
            return bytes(held[_MESSAGE_HEADER:])   # the answer's message header goes
        return CONTINUE

    def encode_trailers(self, stream, trailers):
        held = self.held
        if held is None:
            return CONTINUE
        headers = self.response.headers
        status = header_value(trailers, b"grpc-status")
        if status is not None:
            set_header(headers, b"grpc-status", status)
            if status != b"0":
                self.response.status = 503
        message = header_value(trailers, b"grpc-message")
        if message is not None:
            set_header(headers, b"grpc-message", message)
        self.trailed = True
        length = max(len(held) - _MESSAGE_HEADER, 0) if self.framing else len(held)
        set_header(headers, b"content-length", b"%d" % length)
        return CONTINUE     # the chain then ends the body: encode_data has the last word
