"""Bootstrap, listeners and their network filters (HTTP connection manager, TCP proxy): what the
supported fields parse into, and every rejection."""
import pytest

from hotproxy.config.accesslog import AccessLog
from hotproxy.config.bootstrap import Admin
from hotproxy.config.core import SocketAddress
from hotproxy.config.listener import HttpConnectionManager, HttpFilter, TcpProxy, TcpWeightedCluster
from hotproxy.config.parse_http_filters import HEALTH_CHECK_TYPE

from config_helpers import (DELETE, HCM, LISTENER, ROUTER_TYPE, TCP_PROXY, TCP_PROXY_TYPE,
                            Rejected, edited, ids, parse_with, problems_of)

NOT_SUPPORTED = "not supported by hotproxy yet"
CHAIN = f"{LISTENER}.filter_chains[0]"
HTTP_FILTERS = f"{HCM}.http_filters"


def test_bootstrap_fields():
    bootstrap = parse_with({
        "admin": {"address": {"socket_address": {"address": "::1", "port_value": 9901}},
                  "access_log_path": "/dev/null",
                  "access_log": [{"name": "stdout", "typed_config": {
                      "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"}}]},
        "node": {"id": "proxy-1", "cluster": "edge"},
        "stats_flush_interval": "10s",
    })
    assert bootstrap.admin == Admin(SocketAddress("::1", 9901),
                                    access_log=(AccessLog("file", path="/dev/null"), AccessLog("stdout")))
    assert (bootstrap.node_id, bootstrap.node_cluster) == ("proxy-1", "edge")
    assert bootstrap.stats_flush_interval == 10.0


HEALTH_CHECK_FILTER = {"name": "envoy.filters.http.health_check",
                       "typed_config": {"@type": HEALTH_CHECK_TYPE, "pass_through_mode": False,
                                        "headers": [{"name": ":path",
                                                     "string_match": {"exact": "/healthz"}}]}}
ROUTER_FILTER = {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}


def test_health_check_filter_before_the_router():
    hcm = parse_with({HTTP_FILTERS: [HEALTH_CHECK_FILTER, ROUTER_FILTER]}).listeners[0].filter_chains[0].filters[0]
    assert [f.name for f in hcm.http_filters] == ["envoy.filters.http.health_check",
                                                  "envoy.filters.http.router"]
    (matcher,) = hcm.health_check.headers
    assert (matcher.name, matcher.kind, matcher.string_match.value) == (":path", "string_match", "/healthz")


def test_an_optional_filter_hotproxy_does_not_know_is_left_out():
    unknown = {"name": "jwt", "is_optional": True, "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"}}
    hcm = parse_with({HTTP_FILTERS: [unknown, ROUTER_FILTER]}).listeners[0].filter_chains[0].filters[0]
    assert [f.name for f in hcm.http_filters] == ["envoy.filters.http.router"]


def test_no_health_check_filter_by_default():
    assert parse_with({}).listeners[0].filter_chains[0].filters[0].health_check is None


def test_traffic_direction():
    assert parse_with({f"{LISTENER}.traffic_direction": "INBOUND"}).listeners[0].traffic_direction == "INBOUND"
    assert parse_with({}).listeners[0].traffic_direction == "UNSPECIFIED"


def test_admin_without_address_means_no_admin_as_in_envoy():
    assert parse_with({"admin": {"access_log_path": "/dev/null"}}).admin is None


def test_listener_fields():
    bootstrap = parse_with({
        f"{LISTENER}.address.socket_address": {"address": "::", "port_value": 0},
        f"{LISTENER}.per_connection_buffer_limit_bytes": 32768,
        f"{LISTENER}.enable_reuse_port": False,
        f"{CHAIN}.name": "main",
        f"{CHAIN}.filters[0].name": "any name",      # Envoy goes by the typed_config's type
    })
    listener = bootstrap.listeners[0]
    assert listener.address == SocketAddress("::", 0, "TCP")
    assert listener.per_connection_buffer_limit_bytes == 32768
    assert listener.enable_reuse_port is False
    assert listener.filter_chains[0].name == "main"
    assert isinstance(listener.filter_chains[0].filters[0], HttpConnectionManager)


def test_http_connection_manager_fields():
    bootstrap = parse_with({
        f"{HCM}.codec_type": "HTTP1",
        f"{HCM}.server_name": "edge",
        f"{HCM}.use_remote_address": True,
        f"{HCM}.xff_num_trusted_hops": 2,
        f"{HCM}.generate_request_id": False,
        f"{HCM}.common_http_protocol_options": {"idle_timeout": "60s", "max_headers_count": 50},
        f"{HCM}.max_request_headers_kb": 96,
        f"{HCM}.request_timeout": "30s",
        f"{HCM}.request_headers_timeout": "5s",
        f"{HCM}.stream_idle_timeout": "0s",
        f"{HTTP_FILTERS}[0].name": "my-router",
    })
    hcm = bootstrap.listeners[0].filter_chains[0].filters[0]
    assert hcm == HttpConnectionManager(
        stat_prefix="ingress_http", route_config=hcm.route_config, codec_type="HTTP1",
        http_filters=(HttpFilter("my-router", None),), server_name="edge", use_remote_address=True,
        xff_num_trusted_hops=2, generate_request_id=False, idle_timeout=60.0,
        max_headers_count=50, max_request_headers_kb=96, request_timeout=30.0,
        request_headers_timeout=5.0, stream_idle_timeout=0.0)


@pytest.mark.parametrize("edits", [{HTTP_FILTERS: []}, {HTTP_FILTERS: DELETE}],
                         ids=["empty", "absent"])
def test_an_hcm_without_the_router_is_refused(edits):
    # Envoy 1.40 accepts it and then answers nothing; hotproxy refuses the config instead.
    problems = problems_of(edited(edits))
    assert any(path.endswith("typed_config.http_filters") and "router filter" in reason
               for path, reason in problems)


def test_listeners_on_port_0_may_share_an_address_as_in_envoy():
    bootstrap = parse_with({
        f"{LISTENER}.address": socket_address("127.0.0.1", 0),
        "static_resources.listeners[1].address": socket_address("127.0.0.1", 0)})
    assert [listener.address.port for listener in bootstrap.listeners] == [0, 0]


def test_tcp_proxy_fields():
    bootstrap = parse_with({
        f"{TCP_PROXY}.cluster": DELETE,
        f"{TCP_PROXY}.weighted_clusters": {"clusters": [{"name": "backend", "weight": 3},
                                                        {"name": "canary", "weight": 1}]},
        f"{TCP_PROXY}.idle_timeout": "0s",
    })
    assert bootstrap.listeners[1].filter_chains[0].filters == (TcpProxy(
        stat_prefix="tcp", idle_timeout=0.0,
        weighted_clusters=(TcpWeightedCluster("backend", 3), TcpWeightedCluster("canary", 1))),)
    assert parse_with({}).listeners[1].filter_chains[0].filters[0].idle_timeout == 3600.0


def socket_address(address, port=10000):
    return {"socket_address": {"address": address, "port_value": port}}


def tcp_filter(**config):
    return {"name": "tcp", "typed_config": {"@type": TCP_PROXY_TYPE, "stat_prefix": "t", **config}}


def router(**config):
    return {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE, **config}}


REJECTED = [
    # Bootstrap.
    *[Rejected({name: {}}, name, NOT_SUPPORTED) for name in (
        "cluster_manager", "tracing", "watchdog")],
    Rejected({"static_resources.secrets": [{"name": "s"}]}, "static_resources.secrets[0]",
             "exactly one of tls_certificate, validation_context is required"),
    Rejected({"static_resources.secrets": [{"name": "s", "generic_secret": {}}]},
             "static_resources.secrets[0].generic_secret", NOT_SUPPORTED),
    Rejected({"admin": {"profile_path": "/tmp/p", "address": socket_address("127.0.0.1", 9901)}},
             "admin.profile_path", NOT_SUPPORTED),
    Rejected({"admin": {"address": socket_address("localhost", 9901)}},
             "admin.address.socket_address.address", "expected an IP address, got 'localhost'"),
    Rejected({"node": {"id": "a", "metadata": ["a"]}}, "node.metadata", "expected a mapping, got a list"),
    Rejected({"node": {"id": "a", "locality": {"zone": 1}}}, "node.locality.zone", "expected a string"),
    Rejected({"dynamic_resources": {"cds_config": {"ads": {}}}}, "dynamic_resources.cds_config.ads",
             "ADS is used but the bootstrap has no dynamic_resources.ads_config"),
    Rejected({"stats_flush_interval": "300s"}, "stats_flush_interval",
             "must be at least 0.001s and less than 300s"),
    Rejected({"stats_flush_interval": "0.0005s"}, "stats_flush_interval",
             "must be at least 0.001s and less than 300s"),
    # Listeners.
    Rejected({"static_resources.listeners[1].name": "http"}, "static_resources.listeners[1].name",
             "duplicate listener name 'http'"),
    Rejected({"static_resources.listeners[1].address": socket_address("127.0.0.1")},
             "static_resources.listeners[1].address",
             "duplicate listener address 127.0.0.1:10000"),
    Rejected({f"{LISTENER}.address": socket_address("::1"),
              "static_resources.listeners[1].address": socket_address("0:0::1")},
             "static_resources.listeners[1].address", "duplicate listener address [::1]:10000"),
    Rejected({f"{LISTENER}.address": DELETE}, f"{LISTENER}.address", "required field is missing"),
    Rejected({f"{LISTENER}.address": {}}, f"{LISTENER}.address.socket_address",
             "required field is missing"),
    Rejected({f"{LISTENER}.address": {"pipe": {"path": "/tmp/s"}}}, f"{LISTENER}.address.pipe",
             NOT_SUPPORTED),
    Rejected({f"{LISTENER}.address": socket_address("localhost")},
             f"{LISTENER}.address.socket_address.address",
             "expected an IP address, got 'localhost'"),
    Rejected({f"{LISTENER}.address": socket_address("[::1]")},
             f"{LISTENER}.address.socket_address.address", "expected an IP address, got '[::1]'"),
    Rejected({f"{LISTENER}.address": socket_address("")},
             f"{LISTENER}.address.socket_address.address", "must not be empty"),
    Rejected({f"{LISTENER}.address": socket_address("127.0.0.1", 65536)},
             f"{LISTENER}.address.socket_address.port_value",
             "must be between 0 and 65535, got 65536"),
    Rejected({f"{LISTENER}.address.socket_address.protocol": "UDP"},
             f"{LISTENER}.address.socket_address.protocol",
             "'UDP' is not supported by hotproxy yet"),
    Rejected({f"{LISTENER}.address.socket_address.resolver_name": "x"},
             f"{LISTENER}.address.socket_address.resolver_name", NOT_SUPPORTED),
    Rejected({f"{LISTENER}.per_connection_buffer_limit_bytes": 2**32},
             f"{LISTENER}.per_connection_buffer_limit_bytes", "must be between 0 and 4294967295"),
    Rejected({f"{LISTENER}.socket_options": []}, f"{LISTENER}.socket_options", NOT_SUPPORTED),
    Rejected({f"{LISTENER}.filter_chains": []}, f"{LISTENER}.filter_chains",
             "a listener needs a filter chain or a default_filter_chain"),
    Rejected({f"{LISTENER}.filter_chains[1]": {"filters": [tcp_filter(cluster="backend")]}},
             f"{LISTENER}.filter_chains[1]", "multiple filter chains with the same matching rules"),
    Rejected({f"{CHAIN}.transport_socket": {}}, f"{CHAIN}.transport_socket.name", "required field is missing"),
    Rejected({f"{CHAIN}.filters": []}, f"{CHAIN}.filters",
             "a filter chain without filters is not supported by hotproxy yet"),
    Rejected({f"{CHAIN}.filters[1]": tcp_filter(cluster="backend")}, f"{CHAIN}.filters[0]",
             "must be the last filter in a network filter chain"),
    Rejected({f"{CHAIN}.filters[0].name": DELETE}, f"{CHAIN}.filters[0].name",
             "required field is missing"),
    Rejected({f"{CHAIN}.filters[0].typed_config": DELETE}, f"{CHAIN}.filters[0].typed_config",
             "required field is missing"),
    Rejected({f"{HCM}.@type": "type.googleapis.com/foo.Bar"}, f"{HCM}.@type",
             "unknown type URL 'type.googleapis.com/foo.Bar'"),
    Rejected({f"{HCM}": {"@type": "type.googleapis.com/envoy.extensions.filters.network"
                                  ".redis_proxy.v3.RedisProxy"}}, f"{HCM}.@type",
             "is not supported by hotproxy yet here"),
    # HTTP connection manager.
    Rejected({f"{HCM}.stat_prefix": DELETE}, f"{HCM}.stat_prefix", "required field is missing"),
    Rejected({f"{HCM}.stat_prefix": ""}, f"{HCM}.stat_prefix", "must not be empty"),
    Rejected({f"{HCM}.codec_type": "HTTP3"}, f"{HCM}.codec_type",
             "'HTTP3' is not supported by hotproxy yet (supported: AUTO, HTTP1, HTTP2)"),
    Rejected({f"{HCM}.http2_protocol_options": {"max_concurrent_streams": 0}},
             f"{HCM}.http2_protocol_options.max_concurrent_streams",
             "must be between 1 and 2147483647, got 0"),
    Rejected({f"{HCM}.upgrade_configs": [{"upgrade_type": "websocket"}, {"upgrade_type": "WebSocket"}]},
             f"{HCM}.upgrade_configs[1].upgrade_type", "duplicate upgrade websocket"),
    Rejected({f"{HCM}.upgrade_configs": [{"upgrade_type": "websocket", "filters": []}]},
             f"{HCM}.upgrade_configs[0].filters", "not supported"),
    Rejected({f"{HCM}.upgrade_configs": [{"enabled": True}]},
             f"{HCM}.upgrade_configs[0].upgrade_type", "required"),
    Rejected({f"{HCM}.http2_protocol_options": {"connection_keepalive": {"interval": "1s"}}},
             f"{HCM}.http2_protocol_options.connection_keepalive.timeout", "required"),
    Rejected({f"{HCM}.http2_protocol_options": {"connection_keepalive": {
        "timeout": "1s", "connection_idle_interval": "5s"}}},
             f"{HCM}.http2_protocol_options.connection_keepalive.connection_idle_interval",
             "not supported"),
    Rejected({f"{HCM}.http2_protocol_options": {"allow_metadata": True}},
             f"{HCM}.http2_protocol_options.allow_metadata", "not supported"),
    Rejected({f"{HCM}.codec_type": "HTTP3"}, f"{HCM}.codec_type", NOT_SUPPORTED),
    Rejected({f"{HCM}.rds": {"route_config_name": "r"}}, HCM,
             "only one of route_config, rds may be set"),
    Rejected({f"{HCM}.route_config": DELETE, f"{HCM}.rds": {"route_config_name": "r"}},
             f"{HCM}.rds.config_source", "required field is missing"),
    Rejected({f"{HCM}.access_log": [{"name": "x"}]}, f"{HCM}.access_log[0].typed_config",
             "required field is missing"),      # access logs: test_config_accesslog.py
    Rejected({f"{HCM}.max_request_headers_kb": 0}, f"{HCM}.max_request_headers_kb",
             "must be between 1 and 8192, got 0"),
    Rejected({f"{HCM}.max_request_headers_kb": 8193}, f"{HCM}.max_request_headers_kb",
             "must be between 1 and 8192, got 8193"),
    Rejected({f"{HCM}.common_http_protocol_options": {"max_headers_count": 0}},
             f"{HCM}.common_http_protocol_options.max_headers_count", "must be between 1 and"),
    Rejected({f"{HCM}.use_remote_address": "on"}, f"{HCM}.use_remote_address",
             "expected a boolean, got 'on'"),
    Rejected({f"{HCM}.generate_request_id": 1}, f"{HCM}.generate_request_id",
             "expected a boolean, got 1"),
    Rejected({f"{HCM}.xff_num_trusted_hops": -1}, f"{HCM}.xff_num_trusted_hops",
             "must be between 0 and 4294967295, got -1"),
    Rejected({f"{HCM}.server_name": "a\nb"}, f"{HCM}.server_name",
             "must not contain NUL, CR or LF"),
    Rejected({f"{HCM}.stream_idle_timeout": "-5s"}, f"{HCM}.stream_idle_timeout",
             "negative duration"),
    Rejected({f"{HTTP_FILTERS}[1]": router()}, f"{HTTP_FILTERS}[0]",
             "the router filter must be the last HTTP filter"),
    Rejected({f"{HTTP_FILTERS}[0].typed_config": DELETE}, f"{HTTP_FILTERS}[0].typed_config",
             "required field is missing"),
    Rejected({f"{HTTP_FILTERS}[0].name": DELETE}, f"{HTTP_FILTERS}[0].name",
             "required field is missing"),
    Rejected({f"{HTTP_FILTERS}[0].typed_config.suppress_envoy_headers": True},
             f"{HTTP_FILTERS}[0].typed_config.suppress_envoy_headers", NOT_SUPPORTED),
    Rejected({f"{HTTP_FILTERS}[0].typed_config.@type":
              "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"},
             f"{HTTP_FILTERS}[0].typed_config.@type",
             "type 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication'"
             f" is not supported by hotproxy yet here (supported: {ROUTER_TYPE}, {HEALTH_CHECK_TYPE}"),
    Rejected({HTTP_FILTERS: [{"name": "lua", "typed_config": {
                 "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"}},
              ROUTER_FILTER]},
             f"{HTTP_FILTERS}[0].typed_config.@type", "the Lua filter is not supported"),
    Rejected({HTTP_FILTERS: [HEALTH_CHECK_FILTER, HEALTH_CHECK_FILTER, ROUTER_FILTER]},
             f"{HTTP_FILTERS}[1].name", "names two HTTP filters"),
    Rejected({HTTP_FILTERS: [HEALTH_CHECK_FILTER, dict(ROUTER_FILTER, disabled=True)]},
             f"{HTTP_FILTERS}[1].disabled", "cannot be disabled"),
    Rejected({HTTP_FILTERS: [ROUTER_FILTER, HEALTH_CHECK_FILTER]}, f"{HTTP_FILTERS}[0]",
             "the router filter must be the last HTTP filter"),
    Rejected({HTTP_FILTERS: [HEALTH_CHECK_FILTER]}, f"{HTTP_FILTERS}[0]",
             "the router filter (envoy.filters.http.router) is required"),
    Rejected({HTTP_FILTERS: [HEALTH_CHECK_FILTER, ROUTER_FILTER],
              f"{HTTP_FILTERS}[0].typed_config.pass_through_mode": True},
             f"{HTTP_FILTERS}[0].typed_config.pass_through_mode", NOT_SUPPORTED),
    Rejected({HTTP_FILTERS: [HEALTH_CHECK_FILTER, ROUTER_FILTER],
              f"{HTTP_FILTERS}[0].typed_config.pass_through_mode": DELETE},
             f"{HTTP_FILTERS}[0].typed_config.pass_through_mode", "required field is missing"),
    Rejected({HTTP_FILTERS: [HEALTH_CHECK_FILTER, ROUTER_FILTER],
              f"{HTTP_FILTERS}[0].typed_config.cache_time": "5s"},
             f"{HTTP_FILTERS}[0].typed_config.cache_time", NOT_SUPPORTED),
    Rejected({f"{LISTENER}.traffic_direction": "SIDEWAYS"}, f"{LISTENER}.traffic_direction",
             "SIDEWAYS"),
    # TCP proxy.
    Rejected({f"{TCP_PROXY}.stat_prefix": DELETE}, f"{TCP_PROXY}.stat_prefix",
             "required field is missing"),
    Rejected({f"{TCP_PROXY}.cluster": DELETE}, TCP_PROXY,
             "exactly one of cluster, weighted_clusters is required"),
    Rejected({f"{TCP_PROXY}.weighted_clusters": {"clusters": [{"name": "canary", "weight": 1}]}},
             TCP_PROXY, "only one of cluster, weighted_clusters may be set"),
    Rejected({f"{TCP_PROXY}.cluster": "nope"}, f"{TCP_PROXY}.cluster",
             "cluster 'nope' is not defined in static_resources.clusters"),
    Rejected({f"{TCP_PROXY}.cluster": DELETE,
              f"{TCP_PROXY}.weighted_clusters": {"clusters": [{"name": "nope", "weight": 1}]}},
             f"{TCP_PROXY}.weighted_clusters.clusters[0].name",
             "cluster 'nope' is not defined in static_resources.clusters"),
    Rejected({f"{TCP_PROXY}.cluster": DELETE,
              f"{TCP_PROXY}.weighted_clusters": {"clusters": [{"name": "canary", "weight": 0}]}},
             f"{TCP_PROXY}.weighted_clusters.clusters[0].weight",
             "must be between 1 and 4294967295, got 0"),
    Rejected({f"{TCP_PROXY}.cluster": DELETE, f"{TCP_PROXY}.weighted_clusters": {"clusters": []}},
             f"{TCP_PROXY}.weighted_clusters.clusters", "at least one cluster is required"),
    Rejected({f"{TCP_PROXY}.access_log": [{"name": "x"}]},
             f"{TCP_PROXY}.access_log[0].typed_config", "required field is missing"),
    Rejected({f"{TCP_PROXY}.idle_timeout": "-1s"}, f"{TCP_PROXY}.idle_timeout",
             "negative duration '-1s'"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
