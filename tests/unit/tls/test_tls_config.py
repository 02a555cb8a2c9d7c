"""The TLS contexts' config: certificate material is read and checked at validation, and every
problem names its field and file."""
import base64

import pytest
from certs import CA

from hotproxy.config.parse_tls import downstream_tls_context, upstream_tls_context
from tls_helpers import certificate, parse


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture(scope="module")
def leaf(ca):
    return ca.issue("a", dns=["a.example.com"])


def problems_of(tree, parser=downstream_tls_context):
    return parse(parser, tree)[1]


def test_certificates_from_files_and_inline(tmp_path, ca, leaf):
    cert_path, key_path = leaf.write(tmp_path, "a")
    parsed, problems = parse(downstream_tls_context, {"common_tls_context": {"tls_certificates": [
        {"certificate_chain": {"filename": str(cert_path)}, "private_key": {"filename": str(key_path)}},
        {"certificate_chain": {"inline_bytes": base64.b64encode(leaf.chain_pem).decode()},
         "private_key": {"inline_string": leaf.key_pem().decode()}}]}})
    assert problems == []
    assert parsed.common.tls_certificates[0].source == str(cert_path)
    assert parsed.common.tls_certificates[0].chain_pem == parsed.common.tls_certificates[1].chain_pem


def test_a_missing_file_names_the_field_and_the_file(tmp_path):
    missing = tmp_path / "nope.pem"
    assert problems_of({"common_tls_context": {"tls_certificates": [
        {"certificate_chain": {"filename": str(missing)}, "private_key": {"inline_string": "x"}}]}}) == [
        ("tls.common_tls_context.tls_certificates[0].certificate_chain.filename",
         f"cannot read '{missing}': No such file or directory")]


def test_a_key_that_is_not_the_certificates(ca, leaf):
    other = ca.issue("b", dns=["b.example.com"])
    entry = {"certificate_chain": {"inline_string": leaf.chain_pem.decode()},
             "private_key": {"inline_string": other.key_pem().decode()}}
    assert problems_of({"common_tls_context": {"tls_certificates": [entry]}}) == [
        ("tls.common_tls_context.tls_certificates[0].private_key", "the private key does not match the certificate")]


def test_passwords(leaf):
    good = certificate(leaf, password=b"secret")
    assert problems_of({"common_tls_context": {"tls_certificates": [good]}}) == []
    wrong = dict(good, password={"inline_string": "wrong"})
    missing = {k: v for k, v in good.items() if k != "password"}
    assert [p[1] for p in problems_of({"common_tls_context": {"tls_certificates": [wrong, missing]}})] == [
        "the private key cannot be read (not PEM, or a wrong password)",
        "the private key is encrypted: a password is needed"]


def test_validation_context_problems(ca, leaf):
    tree = {"common_tls_context": {"tls_certificates": [certificate(leaf)], "validation_context": {
        "trusted_ca": {"inline_string": "not a certificate"},
        "verify_certificate_hash": ["zz"], "verify_certificate_spki": ["AAAA"],
        "match_typed_subject_alt_names": [{"matcher": {"exact": "x"}}]}}}
    assert sorted(problems_of(tree)) == sorted([
        ("tls.common_tls_context.validation_context.trusted_ca", "no PEM certificate in it"),
        ("tls.common_tls_context.validation_context.verify_certificate_hash[0]", "invalid hex-encoded SHA-256 'zz'"),
        ("tls.common_tls_context.validation_context.verify_certificate_spki[0]",
         "invalid base64-encoded SHA-256 'AAAA'"),
        ("tls.common_tls_context.validation_context.match_typed_subject_alt_names[0].san_type",
         "required field is missing")])


def test_a_server_context_needs_a_certificate_and_a_required_client_certificate_a_ca(leaf):
    assert problems_of({}) == [("tls.common_tls_context.tls_certificates", "a server context needs a certificate")]
    assert problems_of({"common_tls_context": {"tls_certificates": [certificate(leaf)]},
                        "require_client_certificate": True}) == [
        ("tls.require_client_certificate",
         "requires a validation_context with a trusted_ca to verify the client certificate against")]


def test_tls_params_are_checked_against_openssl(leaf):
    tree = {"common_tls_context": {"tls_certificates": [certificate(leaf)], "tls_params": {
        "cipher_suites": ["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]", "BOGUS"],
        "ecdh_curves": ["X25519", "P-999"],
        "tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_2"}}}
    assert sorted(problems_of(tree)) == sorted([
        ("tls.common_tls_context.tls_params",
         "tls_minimum_protocol_version TLSv1_3 is above tls_maximum_protocol_version TLSv1_2"),
        ("tls.common_tls_context.tls_params.cipher_suites[2]", "Failed to initialize cipher suites BOGUS"),
        ("tls.common_tls_context.tls_params.ecdh_curves[1]", "Failed to initialize ECDH curves P-999")])


def test_session_ticket_keys_are_80_bytes(leaf):
    tree = {"common_tls_context": {"tls_certificates": [certificate(leaf)]},
            "session_ticket_keys": {"keys": [{"inline_bytes": base64.b64encode(b"k" * 32).decode()}]}}
    assert problems_of(tree) == [("tls.session_ticket_keys.keys[0]", "a session ticket key must be 80 bytes, not 32")]


def test_unsupported_and_unknown_fields(leaf):
    tree = {"common_tls_context": {"tls_certificates": [certificate(leaf)], "key_log": {"path": "/x"}},
            "ocsp_staple_policy": "MUST_STAPLE", "bogus": 1}
    assert sorted(problems_of(tree)) == sorted([
        ("tls.common_tls_context.key_log", "not supported by hotproxy yet"),
        ("tls.ocsp_staple_policy", "not supported by hotproxy yet"),
        ("tls.bogus", "unknown field 'bogus'")])


def test_a_client_context_takes_one_certificate(ca, leaf):
    two = {"common_tls_context": {"tls_certificates": [certificate(leaf), certificate(leaf)]}}
    assert problems_of(two, upstream_tls_context) == [
        ("tls.common_tls_context.tls_certificates", "Multiple TLS certificates are not supported for client contexts")]
    parsed, problems = parse(upstream_tls_context, {"sni": "a.example.com", "max_session_keys": 0})
    assert problems == [] and parsed.sni == "a.example.com" and parsed.max_session_keys == 0


def test_client_certificate_checks_without_a_ca_are_refused_downstream(leaf):
    tree = {"common_tls_context": {"tls_certificates": [certificate(leaf)], "validation_context": {
        "verify_certificate_hash": ["ab" * 32]}}}
    assert problems_of(tree) == [(
        "tls.common_tls_context.validation_context",
        "SAN matchers and certificate pins on a server context without a trusted_ca are not supported by "
        "hotproxy yet: hotproxy asks clients for a certificate only to verify it against a trusted_ca")]
    assert problems_of(tree, upstream_tls_context) == []  # a client checks what the server presents
