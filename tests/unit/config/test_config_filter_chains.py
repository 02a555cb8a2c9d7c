"""Several filter chains per listener: filter_chain_match, default_filter_chain, listener filters,
TLS transport sockets and the connection manager's x-forwarded-client-cert settings."""
import ipaddress

from certs import CA
from config_helpers import HCM, LISTENER, edited, parse_with, problems_of

from hotproxy.config.filter_chain import FilterChainMatch, ProxyProtocol, TlsInspector

TLS_INSPECTOR = {"name": "tls", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}
CHAIN_PATH = f"{LISTENER}.filter_chains[0]"
PROXY_PROTOCOL = {"name": "pp", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol",
    "allow_requests_without_proxy_protocol": True}}


def chains_with(*matches):
    tree = edited({})
    chain = tree["static_resources"]["listeners"][0]["filter_chains"][0]
    tree["static_resources"]["listeners"][0]["filter_chains"] = [
        dict(chain, filter_chain_match=match) for match in matches]
    return tree


def test_chains_with_their_matches_and_a_default():
    tree = chains_with({"server_names": ["WWW.Example.com", "*.example.com"], "transport_protocol": "tls"},
                       {"destination_port": 8443, "prefix_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}],
                        "source_ports": [1234], "application_protocols": ["h2"]})
    listener = tree["static_resources"]["listeners"][0]
    listener["default_filter_chain"] = dict(listener["filter_chains"][0])
    del listener["default_filter_chain"]["filter_chain_match"]
    listener["listener_filters"] = [TLS_INSPECTOR, PROXY_PROTOCOL]
    listener["listener_filters_timeout"] = "2s"
    from hotproxy.config import parse_bootstrap
    parsed = parse_bootstrap(tree).listeners[0]
    assert parsed.filter_chains[0].match == FilterChainMatch(
        server_names=("www.example.com", "*.example.com"), transport_protocol="tls")
    assert parsed.filter_chains[1].match == FilterChainMatch(
        destination_port=8443, prefix_ranges=(ipaddress.ip_network("10.0.0.0/8"),), source_ports=(1234,),
        application_protocols=("h2",))
    assert parsed.default_filter_chain.match == FilterChainMatch()
    assert parsed.listener_filters == (TlsInspector(), ProxyProtocol(allow_requests_without_proxy_protocol=True))
    assert parsed.listener_filters_timeout == 2.0


def test_identical_matches_are_refused_as_envoy_refuses_them():
    problems = problems_of(chains_with({"server_names": ["a.example.com"]}, {"server_names": ["a.example.com"]}))
    assert problems == [(f"{LISTENER}.filter_chains[1]",
                         "multiple filter chains with the same matching rules are defined "
                         "(the same filter_chain_match as filter_chains[0])")]


def test_match_problems_name_their_field():
    problems = problems_of(chains_with({"server_names": ["*a.example.com"],
                                        "prefix_ranges": [{"address_prefix": "10.0.0.x"}],
                                        "source_type": "NEARBY"}))
    assert sorted(path for path, _ in problems) == sorted([
        f"{CHAIN_PATH}.filter_chain_match.server_names[0]",
        f"{CHAIN_PATH}.filter_chain_match.prefix_ranges[0].address_prefix",
        f"{CHAIN_PATH}.filter_chain_match.source_type"])


def test_a_tls_transport_socket_and_raw_buffer(tmp_path):
    leaf = CA().issue("a", dns=["a.example.com"])
    tls = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "common_tls_context": {"tls_certificates": [{
            "certificate_chain": {"inline_string": leaf.chain_pem.decode()},
            "private_key": {"inline_string": leaf.key_pem().decode()}}]}}}
    raw = {"name": "raw", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}
    assert parse_with({f"{CHAIN_PATH}.transport_socket": tls}).listeners[0].filter_chains[0].transport_socket.common
    assert parse_with({f"{CHAIN_PATH}.transport_socket": raw}).listeners[0].filter_chains[0].transport_socket is None


def test_forward_client_cert_details():
    hcm = parse_with({f"{HCM}.forward_client_cert_details": "APPEND_FORWARD",
                      f"{HCM}.set_current_client_cert_details": {"uri": True, "subject": True}}
                     ).listeners[0].filter_chains[0].filters[0]
    assert hcm.forward_client_cert_details == "APPEND_FORWARD"
    assert hcm.client_cert_details == {"subject": True, "cert": False, "chain": False, "dns": False, "uri": True}
