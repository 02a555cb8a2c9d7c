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


# (name, value) → b"name: value": joined through map(), the header lines cost no bytecode each
_HEADER_LINE = b": ".join


def response_head(status, headers):
    """``HTTP/1.1 <status> <reason>`` plus ``headers`` (a list of (name, value) bytes pairs)."""
    if not headers:
        return status_line(status) + b"\r\n"
    return b"".join((status_line(status), b"\r\n".join(map(_HEADER_LINE, headers)), b"\r\n\r\n"))


def request_head(method, target, headers):
    if not headers:
        return b"".join((method, b" ", target, b" HTTP/1.1\r\n\r\n"))
    return b"".join((method, b" ", target, b" HTTP/1.1\r\n", b"\r\n".join(map(_HEADER_LINE, headers)),
                     b"\r\n\r\n"))


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def last_chunk(trailers):
    """The last chunk of a chunked body and its trailer section (RFC 9112 §7.1.2)."""
    if not trailers:
        return LAST_CHUNK
    return b"".join((b"0\r\n", b"\r\n".join(map(_HEADER_LINE, trailers)), b"\r\n\r\n"))
