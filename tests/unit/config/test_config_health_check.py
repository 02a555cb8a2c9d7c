"""A cluster's health_checks and an endpoint's health_check_config: what parses, and every
rejection with its path, as Envoy 1.40's --mode validate rules them."""
import pytest

from hotproxy.config.core import HeaderValueOption, SocketAddress
from hotproxy.config.health_check import (EndpointHealthCheckConfig, HealthCheck, HttpHealthCheck,
                                          TcpHealthCheck)

from config_helpers import CLUSTER, ENDPOINT, Rejected, ids, parse_with

NOT_SUPPORTED = "not supported by hotproxy yet"
HC = f"{CLUSTER}.health_checks[0]"
HTTP = {"path": "/healthz"}
FILE_SINK = "type.googleapis.com/envoy.extensions.health_check.event_sinks.file.v3.HealthCheckEventFileSink"


def check(**fields):
    base = {"timeout": "1s", "interval": "5s", "unhealthy_threshold": 3, "healthy_threshold": 2,
            "http_health_check": HTTP}
    base.update(fields)
    return {name: value for name, value in base.items() if value is not None}


def parsed(edits):
    return parse_with(edits).clusters[0]


def test_every_supported_field_parses_into_the_dataclass():
    cluster = parsed({f"{CLUSTER}.health_checks": [check(
        initial_jitter="0.5s", interval_jitter="1s", interval_jitter_percent=10,
        no_traffic_interval="30s", unhealthy_interval="7s", unhealthy_edge_interval="2s",
        healthy_edge_interval="3s", event_log_path="/var/log/hc.log",
        event_logger=[{"name": "envoy.health_check.event_sink.file",
                       "typed_config": {"@type": FILE_SINK, "event_log_path": "/var/log/hc2.log"}}],
        always_log_health_check_failures=True,
        http_health_check={"path": "/healthz", "host": "hc.example", "codec_client_type": "HTTP1",
                           "expected_statuses": [{"start": 200, "end": 300}, {"start": "503", "end": "504"}],
                           "request_headers_to_add": [{"header": {"key": "X-A", "value": "1"}}],
                           "request_headers_to_remove": ["User-Agent"]})]})
    assert cluster.health_checks == (HealthCheck(
        timeout=1.0, interval=5.0, unhealthy_threshold=3, healthy_threshold=2,
        http=HttpHealthCheck(path="/healthz", host="hc.example", expected_statuses=((200, 300), (503, 504)),
                             request_headers_to_add=(HeaderValueOption("x-a", "1"),),
                             request_headers_to_remove=("user-agent",)),
        initial_jitter=0.5, interval_jitter=1.0, interval_jitter_percent=10, no_traffic_interval=30.0,
        unhealthy_interval=7.0, unhealthy_edge_interval=2.0, healthy_edge_interval=3.0,
        event_log_paths=("/var/log/hc.log", "/var/log/hc2.log"), always_log_health_check_failures=True),)


def test_defaults_are_envoys():
    (health,) = parsed({f"{CLUSTER}.health_checks": [check()]}).health_checks
    assert health.http == HttpHealthCheck(path="/healthz", host="", expected_statuses=((200, 201),))
    assert health.no_traffic_interval == 60.0 and health.initial_jitter == 0.0
    assert health.effective_unhealthy_interval == 5.0
    assert health.effective_unhealthy_edge_interval == 5.0
    assert health.effective_healthy_edge_interval == 5.0
    assert not health.always_log_health_check_failures and health.event_log_paths == ()
    assert parsed({}).health_checks == ()


def test_tcp_payloads_in_hex_and_base64():
    (health,) = parsed({f"{CLUSTER}.health_checks": [check(
        http_health_check=None,
        tcp_health_check={"send": {"text": "50494E47"}, "receive": [{"text": "504f"}, {"binary": "Tkc="}]})]}
    ).health_checks
    assert health.tcp == TcpHealthCheck(send=b"PING", receive=(b"PO", b"NG"))
    assert health.http is None and health.checker_type == "TCP"
    (connect_only,) = parsed({f"{CLUSTER}.health_checks": [check(http_health_check=None, tcp_health_check={})]}
                             ).health_checks
    assert connect_only.tcp == TcpHealthCheck()


def test_zero_thresholds_are_accepted_as_envoy_accepts_them():
    (health,) = parsed({f"{CLUSTER}.health_checks": [check(unhealthy_threshold=0, healthy_threshold=0)]}
                       ).health_checks
    assert (health.unhealthy_threshold, health.healthy_threshold) == (0, 0)


def test_endpoint_health_check_config():
    cluster = parsed({f"{CLUSTER}.health_checks": [check()],
                      f"{ENDPOINT}.health_check_config": {"port_value": 9000}})
    endpoint = cluster.endpoints[0].lb_endpoints[0]
    assert endpoint.health_check == EndpointHealthCheckConfig(port=9000)
    assert endpoint.health_check_address() == ("127.0.0.1", 9000)
    cluster = parsed({f"{ENDPOINT}.health_check_config": {
        "address": {"socket_address": {"address": "127.0.0.2", "port_value": 1}}}})
    endpoint = cluster.endpoints[0].lb_endpoints[0]
    assert endpoint.health_check.address == SocketAddress("127.0.0.2", 1)
    assert endpoint.health_check_address() == ("127.0.0.2", 8080)
    assert parsed({f"{ENDPOINT}.health_check_config": {"port_value": 0}}
                  ).endpoints[0].lb_endpoints[0].health_check_address() == ("127.0.0.1", 8080)


HCS = f"{CLUSTER}.health_checks"
REJECTED = [
    Rejected({HCS: [check(timeout=None)]}, f"{HC}.timeout", "required field is missing"),
    Rejected({HCS: [check(interval=None)]}, f"{HC}.interval", "required field is missing"),
    Rejected({HCS: [check(unhealthy_threshold=None)]}, f"{HC}.unhealthy_threshold", "required field is missing"),
    Rejected({HCS: [check(healthy_threshold=None)]}, f"{HC}.healthy_threshold", "required field is missing"),
    Rejected({HCS: [check(timeout="0s")]}, f"{HC}.timeout", "must be greater than 0s"),
    Rejected({HCS: [check(interval="0s")]}, f"{HC}.interval", "must be greater than 0s"),
    Rejected({HCS: [check(no_traffic_interval="0s")]}, f"{HC}.no_traffic_interval", "must be greater than 0s"),
    Rejected({HCS: [check(unhealthy_interval="0s")]}, f"{HC}.unhealthy_interval", "must be greater than 0s"),
    Rejected({HCS: [check(unhealthy_edge_interval="0s")]}, f"{HC}.unhealthy_edge_interval",
             "must be greater than 0s"),
    Rejected({HCS: [check(healthy_edge_interval="0s")]}, f"{HC}.healthy_edge_interval", "must be greater than 0s"),
    Rejected({HCS: [check(interval_jitter="-1s")]}, f"{HC}.interval_jitter", "negative duration"),
    Rejected({HCS: [check(unhealthy_threshold=-1)]}, f"{HC}.unhealthy_threshold", "must be between 0 and"),
    Rejected({HCS: [check(http_health_check=None)]}, HC,
             "exactly one of http_health_check, tcp_health_check is required"),
    Rejected({HCS: [check(tcp_health_check={})]}, HC, "only one of http_health_check, tcp_health_check"),
    Rejected({HCS: [check(), check()]}, f"{HCS}[1]", f"more than one health check per cluster is {NOT_SUPPORTED}"),
    Rejected({HCS: [check(http_health_check={"path": ""})]}, f"{HC}.http_health_check.path", "must not be empty"),
    Rejected({HCS: [check(http_health_check={"host": "x"})]}, f"{HC}.http_health_check.path",
             "required field is missing"),
    Rejected({HCS: [check(http_health_check={**HTTP, "expected_statuses": [{"start": 300, "end": 200}]})]},
             f"{HC}.http_health_check.expected_statuses[0]", "expecting start < end, but found start=300 and end=200"),
    Rejected({HCS: [check(http_health_check={**HTTP, "expected_statuses": [{"start": 99, "end": 200}]})]},
             f"{HC}.http_health_check.expected_statuses[0]", "expecting start >= 100, but found start=99"),
    Rejected({HCS: [check(http_health_check={**HTTP, "expected_statuses": [{"end": 200}]})]},
             f"{HC}.http_health_check.expected_statuses[0]", "expecting start >= 100, but found start=0"),
    Rejected({HCS: [check(http_health_check={**HTTP, "expected_statuses": [{"start": 200, "end": 601}]})]},
             f"{HC}.http_health_check.expected_statuses[0]", "expecting end <= 600, but found end=601"),
    Rejected({HCS: [check(http_health_check={**HTTP, "request_headers_to_remove": ["host"]})]},
             f"{HC}.http_health_check.request_headers_to_remove[0]", "host headers may not be removed"),
    Rejected({HCS: [check(http_health_check={**HTTP, "request_headers_to_add": [
        {"header": {"key": ":path", "value": "x"}}]})]},
        f"{HC}.http_health_check.request_headers_to_add[0].header.key", "host headers may not be modified"),
    Rejected({HCS: [check(http_health_check={**HTTP, "codec_client_type": "HTTP2"})]},
             f"{HC}.http_health_check.codec_client_type", f"'HTTP2' is {NOT_SUPPORTED}"),
    Rejected({HCS: [check(http_health_check=None, tcp_health_check={"send": {"text": "zz"}})]},
             f"{HC}.tcp_health_check.send.text", "invalid hex string 'zz'"),
    Rejected({HCS: [check(http_health_check=None, tcp_health_check={"send": {"text": "abc"}})]},
             f"{HC}.tcp_health_check.send.text", "invalid hex string 'abc'"),
    Rejected({HCS: [check(http_health_check=None, tcp_health_check={"receive": [{"text": ""}]})]},
             f"{HC}.tcp_health_check.receive[0].text", "must not be empty"),
    Rejected({HCS: [check(http_health_check=None, tcp_health_check={"send": {}})]},
             f"{HC}.tcp_health_check.send", "exactly one of text, binary is required"),
    Rejected({HCS: [check(event_logger=[{"name": "f", "typed_config": {"@type": FILE_SINK}}])]},
             f"{HC}.event_logger[0].typed_config.event_log_path", "required field is missing"),
    Rejected({f"{ENDPOINT}.health_check_config": {"port_value": 70000}},
             f"{ENDPOINT}.health_check_config.port_value", "must be between 0 and 65535"),
    Rejected({HCS: [check(transport_socket_match_criteria=["a"])]},
             f"{HC}.transport_socket_match_criteria", "expected a mapping (a Struct)"),
] + [
    Rejected({HCS: [check(**{name: value})]}, f"{HC}.{name}", NOT_SUPPORTED, id=name)
    for name, value in [("alt_port", 1), ("reuse_connection", False), ("grpc_health_check", {}),
                        ("custom_health_check", {}), ("no_traffic_healthy_interval", "1s"),
                        ("event_service", {}), ("always_log_health_check_success", True),
                        ("tls_options", {}), ("name", "x")]
] + [
    Rejected({HCS: [check(http_health_check={**HTTP, name: value})]}, f"{HC}.http_health_check.{name}",
             NOT_SUPPORTED, id=f"http.{name}")
    for name, value in [("send", {}), ("receive", []), ("response_buffer_size", 1),
                        ("retriable_statuses", []), ("service_name_matcher", {}), ("method", "HEAD")]
] + [
    Rejected({HCS: [check(http_health_check=None, tcp_health_check={"proxy_protocol_config": {}})]},
             f"{HC}.tcp_health_check.proxy_protocol_config", NOT_SUPPORTED),
    Rejected({f"{ENDPOINT}.health_check_config": {"hostname": "x"}},
             f"{ENDPOINT}.health_check_config.hostname", NOT_SUPPORTED),
    Rejected({f"{ENDPOINT}.health_check_config": {"disable_active_health_check": True}},
             f"{ENDPOINT}.health_check_config.disable_active_health_check", NOT_SUPPORTED),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()
