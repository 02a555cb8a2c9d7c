"""Responses hotproxy generates itself, shaped like Envoy's local replies."""
from .date import http_date
from .http1.serialize import status_line

NO_HEALTHY_UPSTREAM = b"no healthy upstream"
UPSTREAM_TIMEOUT = b"upstream request timeout"
CONNECT_ERROR = b"upstream connect error or disconnect/reset before headers. reset reason: "


def encode(status, body, server_name, close=False, content_type=b"text/plain", extra=()):
    """Bytes of a complete local reply. An empty body is sent with ``content-length: 0`` and no
    content type, as Envoy does."""
    parts = [status_line(status)]
    if body:
        parts += (b"content-length: ", b"%d" % len(body), b"\r\ncontent-type: ", content_type, b"\r\n")
    else:
        parts.append(b"content-length: 0\r\n")
    for name, value in extra:
        parts += (name, b": ", value, b"\r\n")
    parts += (b"date: ", http_date(), b"\r\nserver: ", server_name, b"\r\n")
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if body:
        parts.append(body)
    return b"".join(parts)
