"""Writing a PROXY protocol header (HAProxy's, versions 1 and 2): what the upstream PROXY
protocol transport socket sends before anything else, to tell an upstream whose connection it
is relaying. Reading one is the listener filter's (listener/filters/proxy_protocol.py)."""
from __future__ import annotations

import ipaddress

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_UNKNOWN = b"PROXY UNKNOWN\r\n"
_V2_LOCAL = V2_SIGNATURE + b"\x20\x00\x00\x00"


def encode_v1(source, destination):
    """The v1 line announcing ``source`` → ``destination`` ((ip, port) each)."""
    family = b"TCP6" if ":" in source[0] else b"TCP4"
    return b"PROXY %s %s %s %d %d\r\n" % (family, source[0].encode(), destination[0].encode(),
                                          source[1], destination[1])


def encode_v2(source, destination, tlvs=()):
    """The v2 header announcing ``source`` → ``destination`` over TCP, with ``tlvs``."""
    six = ":" in source[0]
    addresses = (ipaddress.ip_address(source[0]).packed + ipaddress.ip_address(destination[0]).packed
                 + source[1].to_bytes(2, "big") + destination[1].to_bytes(2, "big"))
    extra = b"".join(bytes([kind]) + len(value).to_bytes(2, "big") + value for kind, value in tlvs)
    body = addresses + extra
    return V2_SIGNATURE + bytes([0x21, 0x21 if six else 0x11]) + len(body).to_bytes(2, "big") + body


def header(version: str, source, destination) -> bytes:
    """The header of ``version`` ("V1" or "V2") announcing ``source`` → ``destination``. Without
    both addresses, or with addresses of two families (which no header can carry), it announces
    nothing: v1's UNKNOWN, v2's LOCAL command; the upstream then uses the connection's own."""
    if source is None or destination is None or (":" in source[0]) != (":" in destination[0]):
        return _V1_UNKNOWN if version == "V1" else _V2_LOCAL
    return encode_v1(source, destination) if version == "V1" else encode_v2(source, destination)
