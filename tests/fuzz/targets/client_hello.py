"""The TLS ClientHello reader (``tls_inspector``) on the first bytes of a connection, whole and
as they grow: a ClientHello, a request for more, NOT_TLS, or ClientHelloError; and what it reads
is what a ClientHello can hold."""
from fuzzkit.invariants import expect
from fuzzkit.listener_filters import check_growing
from hotproxy.listener.filters.client_hello import NOT_TLS, ClientHello, ClientHelloError, inspect

MAX_LEN = 4096
DICTIONARY = (
    b"\x16\x03\x01", b"\x16\x03\x03", b"\x01\x00", b"\x00\x00", b"\x00\x10", b"\x00\x2b",
    b"\x03\x03", b"\x03\x04", b"\x00\x02\x13\x01", b"\x01\x00", b"\x02h2", b"\x08http/1.1",
    b"example.com", b"\xff\xff", b"\x40\x00",
)


def check(data: bytes) -> None:
    hello = check_growing(inspect, data, ClientHelloError, (ClientHello, type(NOT_TLS)))
    if isinstance(hello, ClientHello):
        name = hello.server_name
        expect(name is None or (name.isascii() and name == name.lower() and name.isprintable()
                                and " " not in name and name != ""), "server name", repr(name))
        expect(all(isinstance(protocol, str) and protocol for protocol in hello.alpn), "alpn",
               repr(hello.alpn))
        expect(bool(hello.versions) and all(0 <= version <= 0xFFFF for version in hello.versions),
               "versions", repr(hello.versions))
