"""The listener's TLS transport socket: what a handshake establishes and how it is counted."""
import gevent
import pytest
from certs import CA
from gevent import socket

from hotproxy.listener.tls_transport import TlsTransport
from hotproxy.tls.client import ClientTls
from tls_helpers import certificate, downstream, upstream


@pytest.fixture(scope="module")
def ca():
    return CA()


def accept(transport, client_tls, sni=None):
    left, right = socket.socketpair()
    server = gevent.spawn(transport.handshake, right)
    try:
        client = client_tls.wrap(left, sni or "")
        client.send(b"x")
    except Exception:  # noqa: BLE001 — the server side is what is asserted
        left.close()
    return server.get(timeout=10)


def mtls_transport(ca, **extra):
    server_cert = ca.issue("inner", dns=["inner.example.com"], uris=["spiffe://inner"])
    return TlsTransport(downstream({
        "common_tls_context": {"tls_certificates": [certificate(server_cert)],
                               "validation_context": {"trusted_ca": {"inline_string": ca.pem.decode()}, **extra}},
        "require_client_certificate": True}))


def client_with(issued, **extra):
    return ClientTls(upstream({"common_tls_context": {"tls_certificates": [certificate(issued)]}, **extra}))


def test_a_mutual_tls_handshake_says_who_the_client_is(ca):
    transport = mtls_transport(ca)
    edge = ca.issue("edge", uris=["spiffe://edge"], client=True, server=False)
    tls, info = accept(transport, client_with(edge, sni="inner.example.com", auto_host_sni=False))
    assert info.server_name == "inner.example.com"
    assert info.peer.uris == ("spiffe://edge",) and info.peer.subject == "CN=edge"
    assert info.peer_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert info.local_uris == ("spiffe://inner",)
    assert info.version == "TLSv1.2" and info.cipher.startswith("ECDHE-ECDSA")
    assert transport.stats.handshake == 1 and transport.stats.no_certificate == 0
    assert transport.dynamic.counters == (f"ciphers.{info.cipher}", "versions.TLSv1.2", "curves.X25519",
                                          "sigalgs.ecdsa_secp256r1_sha256")


def test_refusals_are_counted_by_reason(ca):
    transport = mtls_transport(ca, match_typed_subject_alt_names=[
        {"san_type": "URI", "matcher": {"prefix": "spiffe://edge"}}])
    assert accept(transport, ClientTls(upstream({}))) is None
    assert accept(transport, client_with(CA("other").issue("x", client=True, server=False))) is None
    assert accept(transport, client_with(ca.issue("y", uris=["spiffe://else"], client=True, server=False))) is None
    stats = transport.stats
    assert (stats.fail_verify_no_cert, stats.fail_verify_error, stats.fail_verify_san) == (1, 1, 1)
    assert stats.handshake == 0


def test_garbage_is_a_connection_error(ca):
    transport = mtls_transport(ca)
    left, right = socket.socketpair()
    server = gevent.spawn(transport.handshake, right)
    left.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert server.get(timeout=10) is None
    assert transport.stats.connection_error == 1
