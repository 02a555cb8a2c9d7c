"""A cluster's typed_extension_protocol_options (the upstream HTTP options hotproxy reads: the
response head bounds) and the HCM's refusal of max_response_headers_kb, as Envoy refuses it."""
import pytest

from config_helpers import CLUSTER, HCM, Rejected, ids, parse_with

KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
OPTIONS = f"{CLUSTER}.typed_extension_protocol_options"


def options(**fields):
    return {KEY: {"@type": TYPE, "explicit_http_config": {"http_protocol_options": {}}, **fields}}


def test_response_head_bounds_default_to_envoys():
    cluster = parse_with({}).clusters[0]
    assert (cluster.max_response_headers_kb, cluster.max_response_headers_count) == (80, 100)


def test_response_head_bounds_are_read_from_common_http_protocol_options():
    cluster = parse_with({OPTIONS: options(common_http_protocol_options={
        "max_response_headers_kb": 16, "max_headers_count": 20})}).clusters[0]
    assert (cluster.max_response_headers_kb, cluster.max_response_headers_count) == (16, 20)


def test_the_extensions_older_key_is_accepted():
    tree = {OPTIONS: {"envoy.upstreams.http.http_protocol_options": options()[KEY]}}
    assert parse_with(tree).clusters[0].max_response_headers_kb == 80


def test_upstream_http_protocol_options_are_read_from_the_options_or_the_cluster():
    cluster = parse_with({OPTIONS: options(upstream_http_protocol_options={
        "auto_sni": True, "auto_san_validation": True, "override_auto_sni_header": "X-Sni"})}).clusters[0]
    assert (cluster.auto_sni, cluster.auto_san_validation, cluster.override_auto_sni_header) == (True, True, "x-sni")
    deprecated = parse_with({f"{CLUSTER}.upstream_http_protocol_options": {"auto_sni": True}}).clusters[0]
    assert (deprecated.auto_sni, deprecated.auto_san_validation) == (True, False)
    assert parse_with({}).clusters[0].auto_sni is False


REJECTED = [
    Rejected({OPTIONS: options(upstream_http_protocol_options={"override_auto_sni_header": "bad header"})},
             f"{OPTIONS}.{KEY}.upstream_http_protocol_options.override_auto_sni_header",
             "invalid header name 'bad header'"),
    Rejected({f"{CLUSTER}.upstream_http_protocol_options": {"auto_sni": True, "sni": "x"}},
             f"{CLUSTER}.upstream_http_protocol_options.sni", "unknown field"),
    Rejected({OPTIONS: {"envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions": {}}},
             f"{OPTIONS}.envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions", "unknown protocol options"),
    Rejected({OPTIONS: {KEY: {"@type": TYPE}}}, f"{OPTIONS}.{KEY}", "exactly one of explicit_http_config"),
    Rejected({OPTIONS: options(explicit_http_config={"http3_protocol_options": {}})},
             f"{OPTIONS}.{KEY}.explicit_http_config.http3_protocol_options", "not supported by hotproxy yet"),
    Rejected({OPTIONS: options(common_http_protocol_options={"max_response_headers_kb": 0})},
             f"{OPTIONS}.{KEY}.common_http_protocol_options.max_response_headers_kb", "between 1 and 8192"),
    Rejected({OPTIONS: options(common_http_protocol_options={"max_response_headers_kb": 8193})},
             f"{OPTIONS}.{KEY}.common_http_protocol_options.max_response_headers_kb", "between 1 and 8192"),
    Rejected({OPTIONS: options(common_http_protocol_options={"max_headers_count": 0})},
             f"{OPTIONS}.{KEY}.common_http_protocol_options.max_headers_count", "between 1 and"),
    Rejected({OPTIONS: options(auto_config={})}, f"{OPTIONS}.{KEY}", "only one of explicit_http_config"),
    Rejected({OPTIONS: {KEY: {"@type": "type.googleapis.com/envoy.config.core.v3.Http1ProtocolOptions"}}},
             f"{OPTIONS}.{KEY}.@type", "not supported by hotproxy yet here"),
    Rejected({f"{HCM}.common_http_protocol_options": {"max_response_headers_kb": 10}},
             f"{HCM}.common_http_protocol_options.max_response_headers_kb",
             "max_response_headers_kb cannot be set on http_connection_manager"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejections_name_the_field(case):
    case.check()
