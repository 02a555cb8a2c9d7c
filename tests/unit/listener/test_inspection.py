"""Listener filters on real sockets: what each finds, what it consumes, and what it refuses."""
import ssl

import gevent
from gevent import socket

from hotproxy.config.filter_chain import HttpInspector, ProxyProtocol, TlsInspector
from hotproxy.upstream.proxy_protocol import encode_v1
from hotproxy.listener.inspection import Inspection, InspectionStats


def client_hello(server_name="api.example.com", alpn=("h2", "http/1.1")):
    """The first flight of a real TLS client."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(list(alpn))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def tcp_pair():
    """Two ends of a loopback TCP connection (listener filters read IP addresses)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    server.close()
    return client, accepted


def inspect(filters, *pieces, pause=0.0, timeout=2.0, continue_on_timeout=False):
    """(Connection or None, the bytes left for whoever reads next, stats)."""
    left, right = tcp_pair()
    stats = InspectionStats()
    inspection = Inspection(filters, timeout, continue_on_timeout, stats)

    def send():
        for piece in pieces:
            left.sendall(piece)
            gevent.sleep(pause)

    sender = gevent.spawn(send)
    found = inspection.run(right, ("192.0.2.9", 5555))
    sender.join()
    right.setblocking(False)
    try:
        rest = right.recv(1 << 20)
    except BlockingIOError:
        rest = b""
    return found, rest, stats


def test_tls_inspector_reads_sni_and_alpn_without_consuming_them():
    hello = client_hello()
    found, rest, stats = inspect([TlsInspector()], hello)
    assert (found.transport_protocol, found.server_name, found.application_protocols) == (
        "tls", "api.example.com", ("h2", "http/1.1"))
    assert rest == hello
    assert (stats.tls_inspector.tls_found, stats.tls_inspector.sni_found, stats.tls_inspector.alpn_found) == (1, 1, 1)


def test_a_client_hello_split_over_segments_is_reassembled():
    hello = client_hello()
    found, rest, _ = inspect([TlsInspector()], hello[:3], hello[3:40], hello[40:], pause=0.02)
    assert found.server_name == "api.example.com" and rest == hello


def test_plain_text_is_raw_buffer_and_http_inspector_names_the_protocol():
    request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    found, rest, stats = inspect([TlsInspector(), HttpInspector()], request)
    assert (found.transport_protocol, found.application_protocols) == ("raw_buffer", ("http/1.1",))
    assert rest == request and stats.tls_inspector.tls_not_found == 1
    found, _, stats = inspect([HttpInspector()], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert found.application_protocols == ("h2c",) and stats.http_inspector.http2_found == 1


def test_garbage_after_a_tls_record_header_closes_the_connection():
    found, _, stats = inspect([TlsInspector()], b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03")
    assert found is None and stats.tls_inspector.read_error == 1


def test_proxy_protocol_replaces_the_addresses_and_consumes_its_header():
    header = encode_v1(("203.0.113.7", 40000), ("198.51.100.1", 443))
    found, rest, stats = inspect([ProxyProtocol()], header + b"GET / HTTP/1.1\r\n\r\n")
    assert (found.source_ip, found.source_port, found.direct_source_ip) == ("203.0.113.7", 40000, "192.0.2.9")
    assert (found.destination_ip, found.destination_port) == ("198.51.100.1", 443)
    assert rest == b"GET / HTTP/1.1\r\n\r\n" and stats.proxy_proto.found == 1


def test_a_connection_without_proxy_protocol_is_refused_unless_allowed():
    found, _, stats = inspect([ProxyProtocol()], b"GET / HTTP/1.1\r\n\r\n")
    assert found is None and stats.proxy_proto.not_found_disallowed == 1
    found, rest, stats = inspect([ProxyProtocol(allow_requests_without_proxy_protocol=True)], b"GET / HTTP/1.1\r\n\r\n")
    assert found.source_ip == "192.0.2.9" and rest == b"GET / HTTP/1.1\r\n\r\n"


def test_the_timeout_closes_or_continues_with_what_was_found():
    found, _, stats = inspect([TlsInspector()], b"\x16\x03", timeout=0.2)
    assert found is None and stats.listener.downstream_pre_cx_timeout == 1
    found, _, _ = inspect([TlsInspector()], b"\x16\x03", timeout=0.2, continue_on_timeout=True)
    assert found.transport_protocol == "raw_buffer"
