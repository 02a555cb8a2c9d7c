"""gRPC as the connection manager sees it: which requests are gRPC, and the trailers-only
response a local reply becomes for them (Envoy 1.40, probed: ``:status 200``,
``content-type: application/grpc``, ``grpc-status`` mapped from the HTTP status as Envoy's
Grpc::Utility::httpToGrpcStatus maps it, ``grpc-message`` the reply's body when it has one)."""
from __future__ import annotations

#: HTTP status → gRPC status code; any other status is UNKNOWN (2)
_GRPC_STATUS = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}
UNKNOWN = 2
DEADLINE_EXCEEDED = 4
_GRPC_CONTENT_TYPE = b"application/grpc"


def is_grpc(headers):
    """A gRPC request: content-type application/grpc, or application/grpc+<codec> /
    application/grpc;<params> (not gRPC-Web)."""
    for name, value in headers:
        if name == b"content-type":
            return value == _GRPC_CONTENT_TYPE or (value.startswith(_GRPC_CONTENT_TYPE)
                                                   and value[16:17] in (b"+", b";"))
    return False


def grpc_status(http_status):
    return _GRPC_STATUS.get(http_status, UNKNOWN)


def trailers_only(http_status, body, status=None):
    """The headers of the trailers-only answer to a gRPC request that ``http_status`` and
    ``body`` would have answered; ``status``: the gRPC status, when not the one it maps to."""
    status = grpc_status(http_status) if status is None else status
    headers = [(b"content-type", _GRPC_CONTENT_TYPE), (b"grpc-status", b"%d" % status)]
    if body:
        headers.append((b"grpc-message", percent_encoded(body)))
    return headers


def percent_encoded(message):
    """gRPC's grpc-message encoding: bytes outside printable ASCII, and '%', as %XX."""
    if all(0x20 <= byte <= 0x7E and byte != 0x25 for byte in message):
        return message
    return b"".join(bytes((byte,)) if 0x20 <= byte <= 0x7E and byte != 0x25 else b"%%%02X" % byte
                    for byte in message)
