"""ORIGINAL_DST clusters (original_dst_lb_config, cleanup_interval) and upstream_bind_config:
what they parse into, and Envoy 1.40's refusals (as ``envoy --mode validate`` words them)."""
import pytest

from hotproxy.config.cluster import OriginalDstLbConfig, UpstreamBindConfig

from config_helpers import CLUSTER, DELETE, Rejected, ids, parse_with

NOT_SUPPORTED = "not supported by hotproxy yet"
ORIGINAL_DST = {f"{CLUSTER}.type": "ORIGINAL_DST", f"{CLUSTER}.lb_policy": "CLUSTER_PROVIDED",
                f"{CLUSTER}.load_assignment": DELETE}


def original_dst(**fields):
    return {**ORIGINAL_DST, **{f"{CLUSTER}.{name}": value for name, value in fields.items()}}


def test_an_original_dst_cluster_parses_with_envoys_defaults():
    cluster = parse_with(ORIGINAL_DST).clusters[0]
    assert (cluster.type, cluster.lb_policy, cluster.endpoints) == ("ORIGINAL_DST", "CLUSTER_PROVIDED", ())
    assert cluster.cleanup_interval == 5.0
    assert cluster.original_dst_lb_config == OriginalDstLbConfig(None, None)
    assert cluster.upstream_bind_config is None


def test_original_dst_lb_config_and_cleanup_interval():
    cluster = parse_with(original_dst(
        cleanup_interval="0.5s",
        original_dst_lb_config={"use_http_header": True, "upstream_port_override": 8080})).clusters[0]
    assert cluster.cleanup_interval == 0.5
    assert cluster.original_dst_lb_config == OriginalDstLbConfig("x-envoy-original-dst-host", 8080)


def test_a_header_name_of_its_own_is_lower_cased():
    cluster = parse_with(original_dst(original_dst_lb_config={
        "useHttpHeader": True, "httpHeaderName": "X-Upstream-Host"})).clusters[0]
    assert cluster.original_dst_lb_config.http_header_name == "x-upstream-host"


def test_upstream_bind_config_parses_on_any_cluster():
    cluster = parse_with({f"{CLUSTER}.upstream_bind_config": {
        "source_address": {"address": "127.0.0.9", "port_value": 0}, "freebind": True}}).clusters[0]
    assert cluster.upstream_bind_config == UpstreamBindConfig(("127.0.0.9", 0), True)
    empty = parse_with({f"{CLUSTER}.upstream_bind_config": {}}).clusters[0]
    assert empty.upstream_bind_config == UpstreamBindConfig(None, False)     # Envoy accepts it


def test_envoy_ignores_original_dst_lb_config_on_other_types():
    cluster = parse_with({f"{CLUSTER}.original_dst_lb_config": {"use_http_header": True}}).clusters[0]
    assert cluster.type == "STATIC"


LB_POLICY = f"{CLUSTER}.lb_policy"
REJECTED = [
    Rejected({f"{CLUSTER}.type": "ORIGINAL_DST", f"{CLUSTER}.load_assignment": DELETE}, LB_POLICY,
             "LB policy ROUND_ROBIN is not valid for Cluster type ORIGINAL_DST. Only "
             "'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'", "default policy"),
    Rejected({**ORIGINAL_DST, LB_POLICY: "RING_HASH"}, LB_POLICY,
             "LB policy RING_HASH is not valid for Cluster type ORIGINAL_DST", "ring hash"),
    Rejected({LB_POLICY: "CLUSTER_PROVIDED"}, LB_POLICY,
             "cluster provided LB specified but cluster 'backend' did not provide one. "
             "Check cluster documentation.", "provided for STATIC"),
    Rejected({**ORIGINAL_DST, f"{CLUSTER}.load_assignment": {"cluster_name": "backend"}},
             f"{CLUSTER}.load_assignment", "ORIGINAL_DST clusters must have no load assignment configured",
             "load assignment"),
    Rejected(original_dst(cleanup_interval="0s"), f"{CLUSTER}.cleanup_interval", "must be greater than 0s",
             "zero cleanup"),
    Rejected(original_dst(original_dst_lb_config={"upstream_port_override": 70000}),
             f"{CLUSTER}.original_dst_lb_config.upstream_port_override", "must be between 0 and 65535",
             "port override"),
    Rejected(original_dst(original_dst_lb_config={"http_header_name": "x-up"}),
             f"{CLUSTER}.original_dst_lb_config.http_header_name",
             "ORIGINAL_DST cluster: invalid config http_header_name=x-up and use_http_header is false. "
             "Set use_http_header to true if http_header_name is desired.", "header without use"),
    Rejected(original_dst(original_dst_lb_config={"metadata_key": {"key": "a"}}),
             f"{CLUSTER}.original_dst_lb_config.metadata_key", NOT_SUPPORTED, "metadata key"),
    Rejected(original_dst(health_checks=[{"timeout": "1s", "interval": "1s", "unhealthy_threshold": 1,
                                          "healthy_threshold": 1, "tcp_health_check": {}}]),
             f"{CLUSTER}.health_checks", NOT_SUPPORTED, "health checks"),
    Rejected(original_dst(outlier_detection={}), f"{CLUSTER}.outlier_detection", NOT_SUPPORTED, "outliers"),
    Rejected({f"{CLUSTER}.upstream_bind_config": {"source_address": {"address": "127.0.0.9"}}},
             f"{CLUSTER}.upstream_bind_config.source_address.port_value", "required field is missing",
             "bind without port"),
    Rejected({f"{CLUSTER}.upstream_bind_config": {"source_address": {"address": "foo.bar", "port_value": 0}}},
             f"{CLUSTER}.upstream_bind_config.source_address.address", "expected an IP address",
             "bind to a name"),
    Rejected({f"{CLUSTER}.upstream_bind_config": {"source_address": {"address": "", "port_value": 0}}},
             f"{CLUSTER}.upstream_bind_config.source_address.address", "must not be empty", "empty bind"),
    Rejected({f"{CLUSTER}.upstream_bind_config": {"source_address": {"address": "127.0.0.9",
                                                                      "port_value": 70000}}},
             f"{CLUSTER}.upstream_bind_config.source_address.port_value", "must be between 0 and 65535",
             "bind port"),
    Rejected({f"{CLUSTER}.upstream_bind_config": {"socket_options": []}},
             f"{CLUSTER}.upstream_bind_config.socket_options", NOT_SUPPORTED, "socket options"),
    Rejected({f"{CLUSTER}.upstream_bind_config": {"extra_source_addresses": []}},
             f"{CLUSTER}.upstream_bind_config.extra_source_addresses", NOT_SUPPORTED, "extra sources"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
