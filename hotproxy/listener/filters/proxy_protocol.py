"""Reading a PROXY protocol header (HAProxy's, versions 1 and 2) from the first bytes of a
connection: what ``envoy.filters.listener.proxy_protocol`` needs to learn the client's address
from the load balancer in front. Sans-IO: ``parse(data)`` looks at what has arrived so far.

It returns a ``ProxyHeader`` (with ``length``: the bytes the header took, to be consumed before
the connection's own bytes), ``NeedMore``, or ``NOT_PROXY`` when the bytes cannot begin a header
(for ``allow_requests_without_proxy_protocol``). A header that began but is malformed raises
``ProxyProtocolError``. A LOCAL command (v2) or UNKNOWN protocol (v1) carries no addresses: the
connection's own are kept, as in Envoy.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ...upstream.proxy_protocol import V2_SIGNATURE
from .client_hello import NeedMore

_V1_PREFIX = b"PROXY "
_V1_MAX = 107  # the longest v1 line, CRLF included
_V2_FAMILIES = {0x11: (4, 12), 0x21: (16, 36)}  # INET / INET6 over STREAM: address bytes, block size
_V2_ADDRESS_BLOCK = {0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216}  # to skip on LOCAL

NOT_PROXY = "not PROXY protocol"


class ProxyProtocolError(Exception):
    """A PROXY protocol header that began but cannot be read."""


@dataclass(frozen=True)
class ProxyHeader:
    version: int
    length: int                                  # bytes to consume before the connection's own
    source: tuple[str, int] | None = None        # None: keep the connection's own addresses
    destination: tuple[str, int] | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()     # v2 type-length-values, in order


def parse(data: bytes):
    """``ProxyHeader``, ``NeedMore`` or ``NOT_PROXY`` for the bytes a connection began with."""
    # Until a signature is complete, the next byte may show that there is no header.
    if data[:len(V2_SIGNATURE)] == V2_SIGNATURE[:len(data)] and data[:1] == b"\r":
        if len(data) < len(V2_SIGNATURE):
            return NeedMore(len(data) + 1)
        return _parse_v2(data) if len(data) >= 16 else NeedMore(16)
    if data[:len(_V1_PREFIX)] == _V1_PREFIX[:len(data)]:
        return _parse_v1(data) if len(data) > len(_V1_PREFIX) else NeedMore(len(data) + 1)
    return NOT_PROXY


def _parse_v1(data):
    end = data.find(b"\r\n", 0, _V1_MAX)
    if end < 0:
        if len(data) >= _V1_MAX:
            raise ProxyProtocolError("a v1 header without CRLF in its first 107 bytes")
        return NeedMore(len(data) + 1)
    fields = data[:end].split(b" ")
    length = end + 2
    if fields[1] == b"UNKNOWN":
        return ProxyHeader(1, length)
    if len(fields) != 6 or fields[1] not in (b"TCP4", b"TCP6"):
        raise ProxyProtocolError(f"a v1 header that is not 'PROXY TCP4|TCP6 src dst sport dport': {bytes(data[:end])!r}")
    family = 4 if fields[1] == b"TCP4" else 6
    source = (_address(fields[2], family), _port(fields[4]))
    destination = (_address(fields[3], family), _port(fields[5]))
    return ProxyHeader(1, length, source, destination)


def _address(text, family):
    try:
        address = ipaddress.ip_address(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ProxyProtocolError(f"a v1 address that is not one: {bytes(text)!r}") from None
    if address.version != family:
        raise ProxyProtocolError(f"an IPv{address.version} address on a TCP{family} line")
    return str(address)


def _port(text):
    if not text.isdigit() or len(text) > 5 or (len(text) > 1 and text[:1] == b"0") or int(text) > 65535:
        raise ProxyProtocolError(f"a v1 port that is not one: {bytes(text)!r}")
    return int(text)


def _parse_v2(data):
    if data[:12] != V2_SIGNATURE:
        raise ProxyProtocolError("a v2 signature that is not one")
    version, command = data[12] >> 4, data[12] & 0x0F
    if version != 2 or command > 1:
        raise ProxyProtocolError(f"v2 version {version} command {command}")
    family = data[13]
    length = 16 + int.from_bytes(data[14:16], "big")
    if len(data) < length:
        return NeedMore(length)
    block = data[16:length]
    if command == 0 or family == 0x00:  # LOCAL (a health check from the balancer), or UNSPEC
        return ProxyHeader(2, length, tlvs=_tlvs(block[_V2_ADDRESS_BLOCK.get(family, 0):]))
    if family not in _V2_FAMILIES:
        raise ProxyProtocolError(f"v2 address family and protocol 0x{family:02x} (only TCP over IPv4/IPv6)")
    size, addresses = _V2_FAMILIES[family]
    if len(block) < addresses:
        raise ProxyProtocolError(f"a v2 header of {len(block)} bytes for {addresses} of addresses")
    source_ip = str(ipaddress.ip_address(bytes(block[:size])))
    destination_ip = str(ipaddress.ip_address(bytes(block[size:2 * size])))
    source_port = int.from_bytes(block[2 * size:2 * size + 2], "big")
    destination_port = int.from_bytes(block[2 * size + 2:2 * size + 4], "big")
    return ProxyHeader(2, length, (source_ip, source_port), (destination_ip, destination_port),
                       _tlvs(block[addresses:]))


def _tlvs(block):
    tlvs = []
    at = 0
    while at < len(block):
        if at + 3 > len(block):
            raise ProxyProtocolError("a v2 TLV cut short")
        kind = block[at]
        size = int.from_bytes(block[at + 1:at + 3], "big")
        if at + 3 + size > len(block):
            raise ProxyProtocolError(f"a v2 TLV of type 0x{kind:02x} longer than the header")
        tlvs.append((kind, bytes(block[at + 3:at + 3 + size])))
        at += 3 + size
    return tuple(tlvs)


