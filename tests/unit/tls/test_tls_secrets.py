"""TLS contexts that name their certificates and validation contexts as secrets: static ones
(static_resources.secrets) and SDS ones (given to the parser by name, missing until sent)."""
import pytest
from certs import CA

from hotproxy.config.fields import Context, Node
from hotproxy.config.parse import parse_bootstrap
from hotproxy.config.parse_tls import downstream_tls_context, upstream_tls_context
from hotproxy.config.resources import parse_resource
from hotproxy.errors import ConfigError
from tls_helpers import certificate

ADS = {"ads": {}}


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture(scope="module")
def leaf(ca):
    return ca.issue("a", dns=["a.example.com"])


def sds_parsed(parser, tree, sds_secrets=None, static=None):
    ctx = Context(sds_secrets=sds_secrets or {}, secrets=static or {})
    return parser(Node(tree, "tls", ctx)), ctx.problems


def secret_of(body):
    return parse_resource("secrets", body)[0][1]


def test_an_sds_certificate_is_missing_until_sent_then_used(leaf):
    tree = {"common_tls_context": {"tls_certificate_sds_secret_configs": [
        {"name": "server-cert", "sds_config": ADS}]}}
    parsed, problems = sds_parsed(downstream_tls_context, tree)
    assert problems == []
    assert parsed.common.missing_secrets == ("server-cert",)
    assert parsed.common.sds_secrets[0][0] == "server-cert" and parsed.common.sds_secrets[0][1].ads
    sent = secret_of({"name": "server-cert", "tls_certificate": certificate(leaf)})
    parsed, problems = sds_parsed(downstream_tls_context, tree, {"server-cert": sent})
    assert problems == [] and parsed.common.missing_secrets == ()
    assert parsed.common.tls_certificates[0].chain_pem == leaf.chain_pem


def test_a_static_secret_is_looked_up_by_name(ca, leaf):
    tree = {"static_resources": {"secrets": [
        {"name": "ca", "validation_context": {"trusted_ca": {"inline_string": ca.pem.decode()}}}],
        "clusters": [{"name": "c", "type": "STATIC", "transport_socket": {
            "name": "tls", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "common_tls_context": {"validation_context_sds_secret_config": {"name": "ca"}}}}}]}}
    cluster = parse_bootstrap(tree).cluster("c")
    assert cluster.transport_socket.common.validation.trusted_ca_pem == ca.pem


def test_an_unknown_static_secret_is_refused_as_envoy_refuses_it():
    _parsed, problems = sds_parsed(upstream_tls_context, {"common_tls_context": {
        "validation_context_sds_secret_config": {"name": "nope"}}})
    assert problems == [("tls.common_tls_context.validation_context_sds_secret_config.name",
                         "Unknown static secret: nope")]


def test_a_secret_of_the_wrong_kind_is_refused(ca):
    validation = secret_of({"name": "x", "validation_context": {"trusted_ca": {"inline_string": ca.pem.decode()}}})
    _parsed, problems = sds_parsed(downstream_tls_context, {"common_tls_context": {
        "tls_certificate_sds_secret_configs": [{"name": "x", "sds_config": ADS}]}}, {"x": validation})
    assert problems == [("tls.common_tls_context.tls_certificate_sds_secret_configs[0].name",
                         "secret 'x' does not hold a tls_certificate")]


def test_a_combined_validation_context_merges_the_secret_into_the_default(ca):
    sent = secret_of({"name": "ca", "validation_context": {"trusted_ca": {"inline_string": ca.pem.decode()}}})
    parsed, problems = sds_parsed(upstream_tls_context, {"common_tls_context": {"combined_validation_context": {
        "default_validation_context": {"match_typed_subject_alt_names": [
            {"san_type": "DNS", "matcher": {"exact": "a.example.com"}}]},
        "validation_context_sds_secret_config": {"name": "ca", "sds_config": ADS}}}}, {"ca": sent})
    assert problems == []
    validation = parsed.common.validation
    assert validation.trusted_ca_pem == ca.pem
    assert validation.match_typed_subject_alt_names[0].matcher.value == "a.example.com"


def test_a_secret_resource_with_a_bad_key_names_its_field(leaf, ca):
    other = ca.issue("b", dns=["b.example.com"])
    body = {"name": "s", "tls_certificate": {**certificate(leaf), "private_key": certificate(other)["private_key"]}}
    with pytest.raises(ConfigError) as info:
        parse_resource("secrets", body)
    assert info.value.problems[0][0] == "tls_certificate.private_key"
