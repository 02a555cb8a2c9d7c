"""A cluster's common_http_protocol_options connection limits and auto_config in the config:
from HttpProtocolOptions or the deprecated cluster-level fields, with Envoy 1.40's rules for
mixing them and its refusal of auto_config without TLS (checked against Envoy --mode validate)."""
import pytest

from config_helpers import CLUSTER, Rejected, ids, parse_with

KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
OPTIONS = f"{CLUSTER}.typed_extension_protocol_options"
TLS = {"name": "envoy.transport_sockets.tls", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"}}


def options(common=None, **choice):
    fields = {"@type": TYPE, **(choice or {"explicit_http_config": {"http_protocol_options": {}}})}
    if common is not None:
        fields["common_http_protocol_options"] = common
    return {OPTIONS: {KEY: fields}}


def test_no_limits_by_default():
    cluster = parse_with({}).clusters[0]
    assert (cluster.idle_timeout, cluster.max_requests_per_connection, cluster.max_connection_duration,
            cluster.auto_http) == (None, 0, 0.0, False)


def test_limits_from_the_protocol_options():
    cluster = parse_with(options({"idle_timeout": "2.5s", "max_requests_per_connection": 7,
                                  "max_connection_duration": "60s"})).clusters[0]
    assert (cluster.idle_timeout, cluster.max_requests_per_connection, cluster.max_connection_duration) == \
        (2.5, 7, 60.0)


def test_limits_from_the_deprecated_cluster_fields():
    cluster = parse_with({f"{CLUSTER}.max_requests_per_connection": 3,
                          f"{CLUSTER}.common_http_protocol_options": {"idle_timeout": "1s",
                                                                      "max_headers_count": 50},
                          f"{CLUSTER}.http_protocol_options": {"enable_trailers": True}}).clusters[0]
    assert (cluster.max_requests_per_connection, cluster.idle_timeout, cluster.max_response_headers_count,
            cluster.http1_enable_trailers) == (3, 1.0, 50, True)


def test_typed_options_replace_the_deprecated_common_options_but_not_max_requests():
    """Envoy 1.40 ignores the cluster's common_http_protocol_options beside typed options, and
    takes the cluster's max_requests_per_connection when the typed options do not set it."""
    cluster = parse_with({**options({"max_connection_duration": "5s"}),
                          f"{CLUSTER}.common_http_protocol_options": {"idle_timeout": "1s"},
                          f"{CLUSTER}.max_requests_per_connection": 4}).clusters[0]
    assert (cluster.idle_timeout, cluster.max_connection_duration, cluster.max_requests_per_connection) == \
        (None, 5.0, 4)


def test_auto_config_over_tls():
    cluster = parse_with({**options(auto_config={"http_protocol_options": {"enable_trailers": True},
                                                 "http2_protocol_options": {"max_concurrent_streams": 9}}),
                          f"{CLUSTER}.transport_socket": TLS}).clusters[0]
    assert cluster.auto_http and dict(cluster.http2_options) == {"max_concurrent_streams": 9}
    assert cluster.http1_enable_trailers and not cluster.http2_for_http2_downstream_only


ALPN = "ALPN configured for cluster"
REJECTED = [
    Rejected(options(auto_config={}), OPTIONS, f"{ALPN} backend which has a non-ALPN transport socket",
             id="auto_config on plain text"),
    Rejected({**options(auto_config={}), f"{CLUSTER}.transport_socket_matches": [
        {"name": "m", "match": {"a": "b"}, "transport_socket": TLS}]}, OPTIONS, ALPN,
        id="auto_config: a match's TLS does not count"),
    Rejected({**options(auto_config={"http3_protocol_options": {}}), f"{CLUSTER}.transport_socket": TLS},
             f"{OPTIONS}.{KEY}.auto_config.http3_protocol_options", "not supported"),
    Rejected({**options({"max_requests_per_connection": 2}), f"{CLUSTER}.max_requests_per_connection": 3},
             f"{CLUSTER}.max_requests_per_connection",
             "Only one of max_requests_per_connection from Cluster or HttpProtocolOptions can be specified"),
    Rejected({f"{CLUSTER}.http_protocol_options": {}, f"{CLUSTER}.http2_protocol_options": {}}, CLUSTER,
             "Both HTTP1 and HTTP2 options may only be configured with non-default 'protocol_selection'"),
    Rejected(options({"idle_timeout": "-1s"}), f"{OPTIONS}.{KEY}.common_http_protocol_options.idle_timeout",
             "negative duration"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejections_name_the_field(case):
    case.check()
