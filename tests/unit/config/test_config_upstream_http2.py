"""HTTP/2 to upstreams in the config: HttpProtocolOptions' explicit_http_config and
use_downstream_protocol_config, the cluster's deprecated http2_protocol_options, and what is
refused (auto_config without a TLS transport socket)."""
import pytest

from config_helpers import CLUSTER, Rejected, ids, parse_with

KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
OPTIONS = f"{CLUSTER}.typed_extension_protocol_options"


def options(**fields):
    return {OPTIONS: {KEY: {"@type": TYPE, **fields}}}


def test_clusters_speak_http1_by_default():
    cluster = parse_with({}).clusters[0]
    assert cluster.http2_options is None and not cluster.http2_for_http2_downstream_only


def test_explicit_http1_keeps_http1():
    cluster = parse_with(options(explicit_http_config={"http_protocol_options": {}})).clusters[0]
    assert cluster.http2_options is None


def test_explicit_http2_with_envoys_defaults():
    cluster = parse_with(options(explicit_http_config={"http2_protocol_options": {}})).clusters[0]
    assert cluster.http2_options == ()
    assert not cluster.http2_for_http2_downstream_only


def test_explicit_http2_options_are_read_as_the_connection_managers_are():
    cluster = parse_with(options(explicit_http_config={"http2_protocol_options": {
        "max_concurrent_streams": 7, "initial_stream_window_size": 65536,
        "initial_connection_window_size": 1048576}})).clusters[0]
    assert dict(cluster.http2_options) == {
        "max_concurrent_streams": 7, "initial_stream_window_size": 65536,
        "initial_connection_window_size": 1048576}


def test_use_downstream_protocol_config_speaks_http2_to_http2_clients_only():
    cluster = parse_with(options(use_downstream_protocol_config={
        "http2_protocol_options": {"max_concurrent_streams": 3}})).clusters[0]
    assert dict(cluster.http2_options) == {"max_concurrent_streams": 3}
    assert cluster.http2_for_http2_downstream_only


def test_use_downstream_protocol_config_without_http2_options_stays_http1():
    cluster = parse_with(options(use_downstream_protocol_config={
        "http_protocol_options": {}})).clusters[0]
    assert cluster.http2_options is None


def test_the_deprecated_cluster_field():
    cluster = parse_with({f"{CLUSTER}.http2_protocol_options": {
        "max_concurrent_streams": 5}}).clusters[0]
    assert dict(cluster.http2_options) == {"max_concurrent_streams": 5}


REJECTED = [
    Rejected(options(auto_config={"http2_protocol_options": {}}), OPTIONS,
             "ALPN configured for cluster", id="auto_config needs upstream ALPN"),
    Rejected(options(explicit_http_config={"http_protocol_options": {},
                                           "http2_protocol_options": {}}),
             f"{OPTIONS}.{KEY}.explicit_http_config", "only one of", id="explicit: both"),
    Rejected(options(explicit_http_config={"http3_protocol_options": {}}),
             f"{OPTIONS}.{KEY}.explicit_http_config.http3_protocol_options", "not supported"),
    Rejected(options(explicit_http_config={"http2_protocol_options": {
        "max_concurrent_streams": 0}}),
             f"{OPTIONS}.{KEY}.explicit_http_config.http2_protocol_options.max_concurrent_streams",
             "", id="bounds as the connection manager's"),
    Rejected(options(explicit_http_config={"http2_protocol_options": {
        "connection_keepalive": {}}}),
             f"{OPTIONS}.{KEY}.explicit_http_config.http2_protocol_options.connection_keepalive",
             "not supported"),
    Rejected({f"{CLUSTER}.http2_protocol_options": {"initial_stream_window_size": 10}},
             f"{CLUSTER}.http2_protocol_options.initial_stream_window_size", ""),
    Rejected({f"{CLUSTER}.http2_protocol_options": {},
              **options(explicit_http_config={"http2_protocol_options": {}})},
             f"{CLUSTER}.http2_protocol_options", "typed_extension_protocol_options",
             id="deprecated and typed together"),
    Rejected(options(), f"{OPTIONS}.{KEY}", "exactly one of", id="a protocol is required"),
    Rejected(options(explicit_http_config={"http2_protocol_options": {}},
                     upstream_http_protocol_options={"auto_sni": True}),
             OPTIONS, "auto_sni with HTTP/2 upstreams", id="per-request SNI pools"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()


def _h2_bootstrap(route_extra=None, vhost_extra=None):
    h2 = {"explicit_http_config": {"http2_protocol_options": {}}}
    route = {"match": {"prefix": "/"}, "route": {"cluster": "h2", **(route_extra or {})}}
    vhost = {"name": "v", "domains": ["*"], "routes": [route], **(vhost_extra or {})}
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           "stat_prefix": "p", "route_config": {"virtual_hosts": [vhost]},
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    cluster = lambda name, extra: {"name": name, "connect_timeout": "1s", "load_assignment": {
        "cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
            "socket_address": {"address": "127.0.0.1", "port_value": 1}}}}]}]}, **extra}
    return {"static_resources": {
        "listeners": [{"name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 2}},
                       "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                       "typed_config": hcm}]}]}],
        "clusters": [cluster("h2", {"typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", **h2}}}),
                     cluster("h1", {})]}}


@pytest.mark.parametrize("route_extra, vhost_extra, where, message", [
    ({"hedge_policy": {"hedge_on_per_try_timeout": True}}, None, "routes[0].route.hedge_policy",
     "hedge_on_per_try_timeout is not supported by hotproxy yet with an HTTP/2 cluster"),
    ({"request_mirror_policies": [{"cluster": "h2"}]}, None,
     "routes[0].route.request_mirror_policies[0].cluster", "mirroring to an HTTP/2 cluster"),
    (None, {"include_attempt_count_in_response": True}, "virtual_hosts[0]",
     "attempt counts is not supported by hotproxy yet with an HTTP/2 cluster"),
])
def test_what_an_http2_cluster_cannot_carry_yet_is_refused_by_name(route_extra, vhost_extra, where, message):
    from hotproxy.config.parse import parse_bootstrap
    from hotproxy.errors import ConfigError
    with pytest.raises(ConfigError) as refused:
        parse_bootstrap(_h2_bootstrap(route_extra, vhost_extra))
    assert any(path.endswith(where) and message in text for path, text in refused.value.problems), \
        refused.value.problems


def test_an_http1_mirror_of_an_http2_route_is_fine():
    from hotproxy.config.parse import parse_bootstrap
    parse_bootstrap(_h2_bootstrap({"request_mirror_policies": [{"cluster": "h1"}]}))
