"""The heads of a tunnel to an HTTP/2 upstream, as Envoy 1.40's codec writes them (sans-IO).

Upstream (Envoy's ``transformUpgradeRequestFromH1toH2``, and its encoding of a CONNECT): an
upgrade request, whether it came as an HTTP/1.1 ``Upgrade`` or as an h2 extended CONNECT, goes as
an extended CONNECT (RFC 8441): ``:method CONNECT``, ``:protocol`` the upgrade's own spelling,
``:scheme``, ``:authority``, ``:path``; the client's other headers follow as they are
(Sec-WebSocket-Key and -Version included, as Envoy leaves them), without the connection-specific
ones, and without a ``content-length: 0``. A CONNECT goes as ``:method`` and ``:authority`` only.

Downstream (``transformUpgradeResponseFromH2toH1``): the upstream's 200 becomes an HTTP/1.1
client's 101 with ``upgrade`` and ``connection: upgrade`` after the upstream's headers. Envoy
computes no Sec-WebSocket-Accept: the client gets the upstream's, if it sent one.
"""
from __future__ import annotations

from ..http2.codec import CONNECTION_SPECIFIC

#: request headers no HTTP/2 tunnel request carries
_NOT_SENT = CONNECTION_SPECIFIC | {b"host", b"te", b"http2-settings"}


def tunnel_request_headers(head, target, headers, scheme):
    """The HTTP/2 header list of the tunnel request ``head`` (its forwarded ``headers``, Host
    among them, and its ``target`` after the route's rewrites)."""
    authority = b""
    regular = []
    for item in headers:
        name = item[0]
        if name in _NOT_SENT:
            if name == b"host":
                authority = item[1]
            continue
        if name == b"content-length" and item[1] == b"0":
            continue
        regular.append(item)
    if head.upgrade is None:
        return [(b":method", b"CONNECT"), (b":authority", head.target or authority), *regular]
    return [(b":method", b"CONNECT"), (b":scheme", scheme), (b":authority", authority),
            (b":path", target), (b":protocol", head.upgrade), *regular]


def opens(head, status):
    """An upgrade opens on the upstream's 200 (Envoy turns no other into a 101), a CONNECT on
    any 2xx."""
    if head.upgrade is not None:
        return status == 200
    return 200 <= status < 300


def client_response(head, status, headers, downstream_h2):
    """(status, headers) of the response that opens the tunnel for the client, from the
    upstream's: connection-specific headers dropped; a 101 with Upgrade and Connection for an
    HTTP/1.1 client's upgrade."""
    kept = [item for item in headers if item[0] not in CONNECTION_SPECIFIC]
    if head.upgrade is not None and not downstream_h2:
        return 101, kept + [(b"upgrade", head.upgrade), (b"connection", b"upgrade")]
    return status, kept
