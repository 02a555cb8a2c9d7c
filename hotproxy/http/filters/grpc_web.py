"""The gRPC-Web filter (envoy.filters.http.grpc_web) as in Envoy 1.40 (probed on its binary):
a browser's gRPC-Web request goes to a gRPC upstream, and the answer comes back as gRPC-Web.

Request (content-type exactly application/grpc-web, -web+proto, -web-text or -web-text+proto;
any other, ``+json`` or ``; charset=`` included, passes untouched): content-type becomes
application/grpc, content-length goes, ``te: trailers`` and ``grpc-accept-encoding: identity``
are set. A -text body is base64, decoded as it streams (at most 3 bytes carried between pieces);
bad base64 is answered 400, grpc-status 13, grpc-message ``Bad gRPC-web request, invalid
base64 data.``.

Response: content-type application/grpc-web-text+proto when the request's Accept asked for -text
(the body is then base64, each piece on its own, padded), else application/grpc-web+proto. The
upstream's trailers end the body as a trailer frame (flag 0x80, 4-byte big-endian length,
``name:value\\r\\n`` lines). A trailers-only answer stays one: grpc-status in the headers, no
body. A non-gRPC answer (any status but 200, or a content-type that is not gRPC) becomes a
trailers-only one: grpc-status mapped from the HTTP status, grpc-message its body (percent
encoded), which is held, bounded at ``MESSAGE_LIMIT``. No access-control headers are added.

Counted per cluster, service and method: ``cluster.<name>.grpc-web.<service>.<method>.
{<grpc-status>,success,failure,total}`` when an answer carries a grpc-status.
"""
from __future__ import annotations

import base64
import binascii
import struct

from ...stats.counter_map import CounterMap
from ..grpc import grpc_status, is_grpc, percent_encoded
from ..grpc_frames import service_and_method
from .api import CONTINUE, STOP, FilterFactory, HttpFilter, header_value, remove_header, set_header

WEB = b"application/grpc-web"
WEB_PROTO = b"application/grpc-web+proto"
WEB_TEXT = b"application/grpc-web-text"
WEB_TEXT_PROTO = b"application/grpc-web-text+proto"
_WEB_TYPES = frozenset((WEB, WEB_PROTO, WEB_TEXT, WEB_TEXT_PROTO))
_TEXT_TYPES = frozenset((WEB_TEXT, WEB_TEXT_PROTO))
TRAILER_FLAG = 0x80
BAD_BASE64 = b"Bad gRPC-web request, invalid base64 data."
#: the most of a non-gRPC answer's body kept for its grpc-message
MESSAGE_LIMIT = 64 * 1024


def factory(config, context):
    return GrpcWebFactory()


def trailer_frame(trailers):
    """The gRPC-Web frame that carries ``trailers`` at the end of the body."""
    payload = b"".join(b"%s:%s\r\n" % (name.lower(), value) for name, value in trailers)
    return struct.pack(">BI", TRAILER_FLAG, len(payload)) + payload


class GrpcWebFactory(FilterFactory):
    def __init__(self):
        self.name = ""
        self.stats = CounterMap()

    def stat_sets(self):
        return (("cluster.", self.stats),)

    def create(self, stream):
        headers = stream.request.headers
        content_type = header_value(headers, b"content-type")
        if content_type not in _WEB_TYPES:
            return None
        return GrpcWebFilter(self.stats, content_type,
                             header_value(headers, b"accept") in _TEXT_TYPES)

    @staticmethod
    def charge(stats, stream, status):
        """Count an answer's grpc-status (bytes) for the stream's cluster and method."""
        cluster = stream.cluster
        names = service_and_method(stream.request.target)
        if cluster is None or names is None:
            return
        prefix = f"{cluster.stat_name}.grpc-web.{names[0]}.{names[1]}."
        stats.add(prefix + status.decode("latin-1"))
        stats.add(prefix + ("success" if status == b"0" else "failure"))
        stats.add(prefix + "total")


class GrpcWebFilter(HttpFilter):
    __slots__ = ("stats", "content_type", "text_request", "text_response", "carry",
                 "transforming", "response", "message")

    def __init__(self, stats, content_type, text_response):
        self.stats = stats
        self.content_type = content_type        # the request's, to restore for a local reply
        self.text_request = content_type in _TEXT_TYPES
        self.text_response = text_response
        self.carry = b""            # -text request bytes short of a base64 quantum
        self.transforming = False   # a non-gRPC answer becoming a trailers-only one
        self.response = None        # its head
        self.message = None         # its body so far, None once sent on

    def decode_headers(self, stream, end_stream):
        headers = stream.request.headers
        remove_header(headers, b"content-length")
        set_header(headers, b"content-type", b"application/grpc")
        set_header(headers, b"te", b"trailers")
        set_header(headers, b"grpc-accept-encoding", b"identity")
        return CONTINUE

    def decode_data(self, stream, data, end_stream):
        if not self.text_request:
            return CONTINUE
        data = self.carry + bytes(data)
        whole = len(data) if end_stream else len(data) - len(data) % 4
        self.carry = data[whole:]
        if whole % 4:
            return self._bad_base64(stream)
        try:
            return binascii.a2b_base64(data[:whole], strict_mode=True) if whole else b""
        except binascii.Error:
            return self._bad_base64(stream)

    def _bad_base64(self, stream):
        # As Envoy: a plain 400 (the request is gRPC-Web again for it, not gRPC, whose local
        # replies are trailers-only), which encode_headers turns into grpc-status 13 with the
        # body as grpc-message, like any non-gRPC answer.
        set_header(stream.request.headers, b"content-type", self.content_type)
        return stream.send_local_reply(400, BAD_BASE64, details="grpc_base_64_decode_failed")

    def encode_headers(self, stream, response, end_stream):
        headers = response.headers
        status = header_value(headers, b"grpc-status")
        if status is not None:
            GrpcWebFactory.charge(self.stats, stream, status)
        content_type = header_value(headers, b"content-type") or b""
        self.transforming = not end_stream and not content_type.startswith(WEB) and (
            response.status != 200 or not is_grpc(headers))
        set_header(headers, b"content-type", WEB_TEXT_PROTO if self.text_response else WEB_PROTO)
        if end_stream:
            return CONTINUE
        remove_header(headers, b"content-length")
        if not self.transforming:
            return CONTINUE
        self.response, self.message = response, bytearray()
        return STOP

    def encode_data(self, stream, data, end_stream):
        if self.transforming:
            return self._transformed(stream, data, end_stream)
        if self.text_response and data:
            return base64.b64encode(data)
        return CONTINUE

    def encode_trailers(self, stream, trailers):
        if self.transforming:
            return CONTINUE     # the held body ends the stream: _transformed has the last word
        status = header_value(trailers, b"grpc-status")
        if status is not None:
            GrpcWebFactory.charge(self.stats, stream, status)
        frame = trailer_frame(trailers)
        return base64.b64encode(frame) if self.text_response else frame

    def _transformed(self, stream, data, end_stream):
        """Hold the answer until its body is read (or ``MESSAGE_LIMIT`` of it), then send it
        on as trailers-only; what comes after is dropped."""
        message = self.message
        if message is None:
            return b""
        message += data[:MESSAGE_LIMIT - len(message)]
        if not end_stream and len(message) < MESSAGE_LIMIT:
            return STOP
        headers = self.response.headers
        if message:
            set_header(headers, b"grpc-message", percent_encoded(bytes(message)))
        set_header(headers, b"grpc-status", b"%d" % grpc_status(self.response.status))
        set_header(headers, b"content-length", b"0")
        self.message = None
        return b""
