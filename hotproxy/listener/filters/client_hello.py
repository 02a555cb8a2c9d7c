"""Reading a TLS ClientHello from the first bytes of a connection, without consuming them: what
``envoy.filters.listener.tls_inspector`` needs to choose a filter chain (the server name, the
ALPN protocols, whether the bytes are TLS at all). Sans-IO: ``inspect(data)`` looks at what has
arrived so far and says whether it needs more.

The ClientHello may be split over several TLS records and those over several TCP segments;
``inspect`` reassembles the handshake fragments of consecutive records. A record stream that is
not TLS (the first byte is not a handshake record, a version is not 3.x, the first handshake
message is not a ClientHello) is ``NOT_TLS``: the connection is plain text (``raw_buffer``). A
ClientHello that is TLS but malformed raises ``ClientHelloError``.
"""
from __future__ import annotations

from dataclasses import dataclass

_HANDSHAKE_RECORD = 22
_CLIENT_HELLO = 1
_RECORD_HEADER = 5
_MAX_RECORD = 2 ** 14 + 2048
_SERVER_NAME, _ALPN, _SUPPORTED_VERSIONS = 0, 16, 43

NOT_TLS = "not TLS"


class ClientHelloError(Exception):
    """TLS, but not a ClientHello one can read."""


@dataclass(frozen=True)
class ClientHello:
    server_name: str | None            # the host_name of server_name, lower-cased; None when absent
    alpn: tuple[str, ...] = ()         # the client's ALPN protocols, in its order
    versions: tuple[int, ...] = ()     # supported_versions (TLS 1.3 clients), else (legacy_version,)


@dataclass(frozen=True)
class NeedMore:
    """Not enough bytes yet; ``at_least`` is a lower bound on the total needed."""
    at_least: int


def inspect(data: bytes, max_size: int = 64 * 1024):
    """``ClientHello``, ``NeedMore``, or ``NOT_TLS`` for the bytes a connection began with.
    Raises ``ClientHelloError`` for a malformed ClientHello or one over ``max_size`` bytes."""
    if not _starts_like_a_client_hello(data[:_RECORD_HEADER + 1]):
        return NOT_TLS
    if len(data) <= _RECORD_HEADER:
        return NeedMore(len(data) + 1)  # the next byte may already show that it is not TLS
    handshake = bytearray()
    at = 0
    while True:
        header = data[at:at + _RECORD_HEADER]
        if len(header) < _RECORD_HEADER:
            return NeedMore(at + _RECORD_HEADER)
        length = int.from_bytes(header[3:5], "big")
        if header[0] != _HANDSHAKE_RECORD or header[1] != 3 or not 0 < length <= _MAX_RECORD:
            raise ClientHelloError("the ClientHello is interrupted by another record")
        end = at + _RECORD_HEADER + length
        if len(data) < end:
            return NeedMore(end)
        handshake += data[at + _RECORD_HEADER:end]
        at = end
        if len(handshake) >= 4:
            size = int.from_bytes(handshake[1:4], "big")
            if size > max_size:
                raise ClientHelloError(f"a ClientHello of {size} bytes (more than {max_size})")
            if len(handshake) >= 4 + size:
                return _parse_body(memoryview(handshake)[4:4 + size])


def _starts_like_a_client_hello(start):
    """What the first six bytes can tell: a handshake record of version 3.x, not empty, not over
    the record limit, whose first message is a ClientHello. Bytes not yet here pass."""
    checks = ((0, lambda byte: byte == _HANDSHAKE_RECORD), (1, lambda byte: byte == 3),
              (2, lambda byte: byte <= 4), (5, lambda byte: byte == _CLIENT_HELLO))
    for index, valid in checks:
        if len(start) > index and not valid(start[index]):
            return False
    if len(start) >= _RECORD_HEADER:
        return 0 < int.from_bytes(start[3:5], "big") <= _MAX_RECORD
    return True


class _Reader:
    __slots__ = ("data", "at")

    def __init__(self, data):
        self.data = data
        self.at = 0

    def take(self, count, what):
        if self.at + count > len(self.data):
            raise ClientHelloError(f"the ClientHello ends inside its {what}")
        piece = self.data[self.at:self.at + count]
        self.at += count
        return piece

    def number(self, size, what):
        return int.from_bytes(self.take(size, what), "big")

    def vector(self, length_size, what):
        """A length-prefixed vector, as a reader of its own."""
        return _Reader(self.take(self.number(length_size, what), what))

    @property
    def left(self):
        return len(self.data) - self.at


def _parse_body(body) -> ClientHello:
    reader = _Reader(body)
    legacy_version = reader.number(2, "version")
    reader.take(32, "random")
    if reader.vector(1, "session id").left > 32:
        raise ClientHelloError("a session id longer than 32 bytes")
    suites = reader.vector(2, "cipher suites")
    if suites.left == 0 or suites.left % 2:
        raise ClientHelloError("an empty or odd cipher suite list")
    if reader.vector(1, "compression methods").left == 0:
        raise ClientHelloError("no compression method")
    server_name, alpn, versions = None, (), (legacy_version,)
    if reader.left == 0:
        return ClientHello(server_name, alpn, versions)  # a ClientHello without extensions
    extensions = reader.vector(2, "extensions")
    if reader.left:
        raise ClientHelloError("bytes after the extensions")
    seen = set()
    while extensions.left:
        kind = extensions.number(2, "extension type")
        payload = extensions.vector(2, "extension")
        if kind in seen:
            raise ClientHelloError(f"extension {kind} appears twice")
        seen.add(kind)
        if kind == _SERVER_NAME:
            server_name = _server_name(payload)
        elif kind == _ALPN:
            alpn = _alpn(payload)
        elif kind == _SUPPORTED_VERSIONS:
            versions = _supported_versions(payload)
    return ClientHello(server_name, alpn, versions)


def _server_name(payload):
    names = payload.vector(2, "server name list")
    host_name = None
    while names.left:
        kind = names.number(1, "server name type")
        name = bytes(names.vector(2, "server name").data)
        if kind == 0 and host_name is None:
            if not name or any(byte < 0x21 or byte > 0x7e for byte in name):
                raise ClientHelloError("a server name that is not a host name")
            host_name = name.decode("ascii").lower()
    return host_name


def _alpn(payload):
    protocols = payload.vector(2, "ALPN list")
    names = []
    while protocols.left:
        name = bytes(protocols.vector(1, "ALPN protocol").data)
        if not name:
            raise ClientHelloError("an empty ALPN protocol name")
        names.append(name.decode("latin-1"))
    if not names:
        raise ClientHelloError("an empty ALPN list")
    return tuple(names)


def _supported_versions(payload):
    versions = payload.vector(1, "supported versions")
    if versions.left == 0 or versions.left % 2:
        raise ClientHelloError("an empty or odd supported_versions list")
    return tuple(versions.number(2, "version") for _ in range(versions.left // 2))
