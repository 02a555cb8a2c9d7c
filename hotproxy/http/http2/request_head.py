"""The RequestHead (http1/heads.py) an HTTP/2 request becomes, so that the connection manager's
checks, filters and router take it as they take an HTTP/1.1 one."""
from __future__ import annotations

from ..http1.heads import RequestHead


def request_head(headers, end_stream):
    """A RequestHead (http1/heads.py) for an HTTP/2 request: the pseudo-headers as its method,
    target and Host, the body framed by its content-length or by the stream's end. Returns
    (head, target)."""
    head = RequestHead()
    head.version = "2"
    head.keep_alive = True
    head.upgrade = head.connection = None
    head.nominated = ()
    head.method = head.target = b""
    regular = []
    authority = protocol = None
    for name, value in headers:
        if name[:1] == b":":
            if name == b":method":
                head.method = value
            elif name == b":path":
                head.target = value
            elif name == b":authority":
                authority = value
            elif name == b":protocol":
                protocol = value
        elif name == b"host":
            if authority is None:
                authority = value
        elif name == b"cookie" and regular and any(n == b"cookie" for n, _ in regular):
            # RFC 9113 §8.2.3: split cookies are joined for an HTTP/1.1 upstream
            at = next(i for i, (n, _) in enumerate(regular) if n == b"cookie")
            regular[at] = (b"cookie", regular[at][1] + b"; " + value)
        else:
            regular.append((name, value))
            if name == b"content-length":
                head.content_length = value
    if authority is not None:
        head.host = authority
        regular.insert(0, (b"host", authority))
    head.headers = regular
    head.chunked = not end_stream and head.content_length is None
    if head.method == b"CONNECT":
        head.chunked = False        # a tunnel's bytes, not a body
        if protocol is not None:
            # RFC 8441: an upgrade, which an HTTP/1.1 upstream gets as Envoy sends it (a GET with
            # Upgrade and Connection after the client's headers, no Sec-WebSocket-Key added)
            head.method, head.upgrade = b"GET", protocol
            regular += [(b"upgrade", protocol), (b"connection", b"upgrade")]
        else:
            head.target = authority or b""
    return head, head.target
