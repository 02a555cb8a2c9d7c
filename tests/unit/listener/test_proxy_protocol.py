"""The PROXY protocol reader (v1 and v2, HAProxy's spec), fed whole and byte by byte."""
import random

import pytest

from hotproxy.listener.filters.client_hello import NeedMore
from hotproxy.listener.filters.proxy_protocol import NOT_PROXY, ProxyHeader, ProxyProtocolError, parse
from hotproxy.upstream.proxy_protocol import V2_SIGNATURE, encode_v1, encode_v2


def test_v1_tcp4_and_tcp6():
    assert parse(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /") == ProxyHeader(
        1, 45, ("192.0.2.1", 56324), ("198.51.100.2", 443))
    header = parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n")
    assert (header.source, header.destination) == (("2001:db8::1", 1), ("2001:db8::2", 65535))


def test_v1_unknown_keeps_the_connections_addresses():
    assert parse(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest") == ProxyHeader(1, 35)
    assert parse(b"PROXY UNKNOWN\r\n") == ProxyHeader(1, 15)


@pytest.mark.parametrize("line", [
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n", b"PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n",
    b"PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n", b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
    b"PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n", b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n",
    b"PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n", b"PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n",
    b"PROXY " + b"x" * 120,
])
def test_malformed_v1(line):
    with pytest.raises(ProxyProtocolError):
        parse(line)


def test_v2_ipv4_ipv6_and_tlvs():
    header = parse(encode_v2(("192.0.2.1", 1000), ("198.51.100.2", 443), [(0x01, b"h2"), (0x05, b"id")]) + b"data")
    assert header.source == ("192.0.2.1", 1000) and header.destination == ("198.51.100.2", 443)
    assert header.tlvs == ((0x01, b"h2"), (0x05, b"id")) and header.length == 16 + 12 + 5 + 5
    header = parse(encode_v2(("2001:db8::1", 1), ("2001:db8::2", 2)))
    assert header.source == ("2001:db8::1", 1) and header.version == 2


def test_v2_local_keeps_the_connections_addresses():
    local = V2_SIGNATURE + bytes([0x20, 0x11, 0, 12]) + bytes(12)
    assert parse(local) == ProxyHeader(2, 28)
    unspec = V2_SIGNATURE + bytes([0x21, 0x00, 0, 0])
    assert parse(unspec) == ProxyHeader(2, 16)


@pytest.mark.parametrize("header", [
    V2_SIGNATURE + bytes([0x31, 0x11, 0, 12]) + bytes(12),   # version 3
    V2_SIGNATURE + bytes([0x22, 0x11, 0, 12]) + bytes(12),   # command 2
    V2_SIGNATURE + bytes([0x21, 0x12, 0, 12]) + bytes(12),   # UDP
    V2_SIGNATURE + bytes([0x21, 0x11, 0, 8]) + bytes(8),     # too short for the addresses
    V2_SIGNATURE + bytes([0x21, 0x11, 0, 15]) + bytes(12) + b"\x01\x00\x09",  # a TLV past the end
])
def test_malformed_v2(header):
    with pytest.raises(ProxyProtocolError):
        parse(header)


@pytest.mark.parametrize("header", [encode_v1(("192.0.2.1", 5), ("192.0.2.2", 6)),
                                    encode_v2(("192.0.2.1", 5), ("192.0.2.2", 6), [(1, b"x")])])
def test_every_prefix_needs_more(header):
    for end in range(len(header)):
        result = parse(header[:end])
        assert isinstance(result, NeedMore) and result.at_least > end, (end, result)
    assert isinstance(parse(header), ProxyHeader)


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\n", b"\x16\x03\x01", b"PROXX", b"\r\n\r\nX",
                                  b"\r\n\r\n\x00\r\nQUIX\n" + bytes(4)])
def test_other_bytes_are_not_proxy_protocol(data):
    assert parse(data) is NOT_PROXY


def test_garbled_headers_never_raise_anything_else():
    rng = random.Random(3)
    seeds = [bytearray(encode_v1(("192.0.2.1", 5), ("192.0.2.2", 6))),
             bytearray(encode_v2(("2001:db8::1", 5), ("2001:db8::2", 6), [(1, b"abc")]))]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            result = parse(bytes(data[:rng.randint(0, len(data))]))
        except ProxyProtocolError:
            continue
        assert result is NOT_PROXY or isinstance(result, (NeedMore, ProxyHeader))


@pytest.mark.parametrize("start", [b"", b"P", b"PRO", b"PROXY", b"\r", b"\r\n\r\n\x00\r\nQUI"])
def test_need_more_asks_for_no_more_than_the_next_byte_that_may_decide(start):
    # Found by fuzzing: "P" asked for 7 bytes, though "PRO\n" is already not PROXY protocol; a
    # caller waiting for ``at_least`` would wait forever on a short plain-text request.
    assert parse(start) == NeedMore(len(start) + 1)
    assert parse(b"PRO\n") is NOT_PROXY and parse(b"\r\n\r\n\x00\rX") is NOT_PROXY
