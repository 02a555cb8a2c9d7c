"""Server and client TLS contexts: certificate choice by SNI and key type, client certificates,
the peer checks, session resumption across workers and on the client."""
import base64
import os

import pytest
from certs import CA

from hotproxy.tls.certificates import describe
from hotproxy.tls.client import ClientTls, HandshakeFailure
from hotproxy.tls.server import ServerTls
from tls_helpers import certificate, downstream, handshake, upstream


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture(scope="module")
def certs(ca):
    return {"a": ca.issue("a", dns=["a.example.com"]),
            "wild": ca.issue("wild", dns=["*.b.example.com"]),
            "a-rsa": ca.issue("a", dns=["a.example.com"], kind="rsa"),
            "client": ca.issue("edge", uris=["spiffe://edge"], client=True, server=False)}


def trusting(ca, **extra):
    return {"common_tls_context": {"validation_context": {"trusted_ca": {"inline_string": ca.pem.decode()}}}, **extra}


def served_cn(client):
    return describe(client.getpeercert(binary_form=True)).dns


def test_sni_chooses_the_certificate_exact_then_wildcard_else_the_first(ca, certs):
    server = ServerTls(downstream({"common_tls_context": {"tls_certificates": [
        certificate(certs["a"]), certificate(certs["wild"])]}}))
    client = ClientTls(upstream(trusting(ca)))
    for sni, served in (("a.example.com", ("a.example.com",)), ("x.b.example.com", ("*.b.example.com",)),
                        ("y.x.b.example.com", ("a.example.com",)), ("", ("a.example.com",))):
        client.config = upstream(trusting(ca, sni=sni)) if sni else client.config
        tls, _ = handshake(server, ClientTls(client.config))
        assert served_cn(tls) == served, sni


def test_one_name_with_rsa_and_ecdsa_serves_the_type_the_client_can_verify(ca, certs):
    server = ServerTls(downstream({"common_tls_context": {"tls_certificates": [
        certificate(certs["a"]), certificate(certs["a-rsa"])]}}))
    assert len(server.contexts) == 1
    for ciphers, key in (("ECDHE-RSA-AES128-GCM-SHA256", "RSA"), ("ECDHE-ECDSA-AES128-GCM-SHA256", "EC")):
        config = trusting(ca, sni="a.example.com")
        config["common_tls_context"]["tls_params"] = {"cipher_suites": [ciphers]}
        tls, _ = handshake(server, ClientTls(upstream(config)))
        assert key in type(_public_key(tls)).__name__.upper()


def _public_key(tls):
    from cryptography import x509
    return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).public_key()


def test_a_required_client_certificate_is_verified_against_the_ca(ca, certs):
    other = CA("another CA")
    server = ServerTls(downstream({**trusting(ca, require_client_certificate=True),
                                   "common_tls_context": {
                                       "tls_certificates": [certificate(certs["a"])],
                                       "validation_context": {"trusted_ca": {"inline_string": ca.pem.decode()}}}}))
    with_cert = ClientTls(upstream({"common_tls_context": {"tls_certificates": [certificate(certs["client"])]}}))
    foreign = other.issue("x", client=True, server=False)
    with_foreign = ClientTls(upstream({"common_tls_context": {"tls_certificates": [certificate(foreign)]}}))
    without = ClientTls(upstream({}))
    _, served = handshake(server, with_cert)
    assert describe(served.getpeercert(binary_form=True)).uris == ("spiffe://edge",)
    for client in (with_foreign, without):
        _, served = handshake(server, client)
        assert isinstance(served, Exception)


def test_the_client_verifies_the_server_only_as_configured(ca, certs):
    server = ServerTls(downstream({"common_tls_context": {"tls_certificates": [certificate(certs["a"])]}}))
    tls, _ = handshake(server, ClientTls(upstream({})))  # no trusted_ca: no verification at all
    assert served_cn(tls) == ("a.example.com",)
    failure, _ = handshake(server, ClientTls(upstream(trusting(CA("another CA")))))
    assert isinstance(failure, HandshakeFailure) and failure.stat == "fail_verify_error"
    pinned = trusting(ca)
    pinned["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"] = [
        {"san_type": "DNS", "matcher": {"exact": "other.example.com"}}]
    failure, _ = handshake(server, ClientTls(upstream(pinned)))
    assert isinstance(failure, HandshakeFailure) and failure.stat == "fail_verify_san"
    wrong_sni = ClientTls(upstream(trusting(ca, sni="z.example.com", auto_sni_san_validation=True)))
    failure, _ = handshake(server, wrong_sni)
    assert isinstance(failure, HandshakeFailure) and failure.stat == "fail_verify_san"
    right_sni = ClientTls(upstream(trusting(ca, sni="a.example.com", auto_sni_san_validation=True)))
    assert not isinstance(handshake(server, right_sni)[0], Exception)


def test_certificate_pins(ca, certs):
    server = ServerTls(downstream({"common_tls_context": {"tls_certificates": [certificate(certs["a"])]}}))
    info = describe(certs["a"].der)
    for pins, passes in (({"verify_certificate_hash": [info.sha256]}, True),
                         ({"verify_certificate_spki": [info.spki_sha256]}, True),
                         ({"verify_certificate_hash": ["00" * 32]}, False)):
        config = {"common_tls_context": {"validation_context": pins}}
        client, _ = handshake(server, ClientTls(upstream(config)))
        assert isinstance(client, Exception) is not passes, pins


def test_a_session_from_one_worker_resumes_on_another_with_the_shared_ticket_key(ca, certs):
    config = downstream({"common_tls_context": {"tls_certificates": [certificate(certs["a"])]},
                         "session_ticket_keys": {"keys": [{"inline_bytes": base64.b64encode(os.urandom(80)).decode()}]}})
    worker_1, worker_2 = ServerTls(config), ServerTls(config)
    client = ClientTls(upstream({}))
    first, _ = handshake(worker_1, client)
    client.remember(first)
    second, _ = handshake(worker_2, client)
    assert second.session_reused
    client.remember(second)
    stranger = ServerTls(downstream({"common_tls_context": {"tls_certificates": [certificate(certs["a"])]}}))
    third, _ = handshake(stranger, client)
    assert not third.session_reused


def test_max_session_keys_zero_never_resumes(ca, certs):
    server = ServerTls(downstream({"common_tls_context": {"tls_certificates": [certificate(certs["a"])]}}),
                       ticket_key=os.urandom(80))
    client = ClientTls(upstream({"max_session_keys": 0}))
    first, _ = handshake(server, client)
    client.remember(first)
    second, _ = handshake(server, client)
    assert not second.session_reused
