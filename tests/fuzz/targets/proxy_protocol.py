"""The PROXY protocol reader (v1 and v2) on the first bytes of a connection, whole and as they
grow: a ProxyHeader, a request for more, NOT_PROXY, or ProxyProtocolError. A header's length is
within the bytes read, its addresses and ports are real ones, and they survive being written
again by ``encode_v1``/``encode_v2`` and read back."""
import ipaddress

from fuzzkit.invariants import expect
from fuzzkit.listener_filters import check_growing
from hotproxy.listener.filters.proxy_protocol import NOT_PROXY, ProxyHeader, ProxyProtocolError, parse
from hotproxy.upstream.proxy_protocol import V2_SIGNATURE, encode_v1, encode_v2

MAX_LEN = 1024
DICTIONARY = (
    b"PROXY ", b"TCP4 ", b"TCP6 ", b"UNKNOWN", b"\r\n", b"192.0.2.1 ", b"::1 ", b"::ffff:1.2.3.4",
    b"65535", b"0", V2_SIGNATURE, b"\x21\x11", b"\x21\x21", b"\x20\x00", b"\x00\x0c", b"\x00\x24",
    b"\x01\x00\x02h2", b"\x05\x00\x00",
)


def check(data: bytes) -> None:
    header = check_growing(parse, data, ProxyProtocolError, (ProxyHeader, type(NOT_PROXY)))
    if not isinstance(header, ProxyHeader):
        return
    expect(header.version in (1, 2) and 0 < header.length <= len(data), "length",
           lambda: f"v{header.version}, {header.length} of {len(data)} bytes")
    if header.source is None:
        return
    for address, port in (header.source, header.destination):
        expect(str(ipaddress.ip_address(address)) == address and 0 <= port <= 0xFFFF, "address",
               lambda: f"{address!r} port {port}")
    encode = encode_v1 if header.version == 1 else encode_v2
    again = parse(encode(header.source, header.destination, *((header.tlvs,) if header.version == 2 else ())))
    expect((again.source, again.destination, again.tlvs) == (header.source, header.destination, header.tlvs),
           "written again", lambda: f"{header!r} reads back as {again!r}")
