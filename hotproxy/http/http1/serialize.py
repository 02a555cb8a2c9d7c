"""HTTP/1.1 message heads and chunked framing, as bytes ready to send."""
from http import HTTPStatus

_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_STATUS_LINES = {code: b"HTTP/1.1 %d %s\r\n" % (code, reason) for code, reason in _REASONS.items()}

LAST_CHUNK = b"0\r\n\r\n"


def reason_phrase(status):
    """The standard reason phrase of ``status`` (b"" for an unknown one)."""
    return _REASONS.get(status, b"")


def status_line(status):
    line = _STATUS_LINES.get(status)
    if line is None:
        line = b"HTTP/1.1 %d Unknown\r\n" % status
    return line


def response_head(status, headers):
    """``HTTP/1.1 <status> <reason>`` plus ``headers`` (a list of (name, value) bytes pairs)."""
    parts = [status_line(status)]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def request_head(method, target, headers):
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def last_chunk(trailers):
    """The last chunk of a chunked body and its trailer section (RFC 9112 §7.1.2)."""
    parts = [b"0\r\n"]
    for name, value in trailers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
