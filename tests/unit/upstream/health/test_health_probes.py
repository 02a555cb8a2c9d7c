"""The bytes of HTTP and TCP checks and the verdicts on what comes back."""
import json

import pytest

from hotproxy.config.core import HeaderValueOption
from hotproxy.config.health_check import HttpHealthCheck
from hotproxy.upstream.health.events import event_line, timestamp
from hotproxy.upstream.health.http_probe import (ProbeError, ResponseReader, Verdict, request_bytes,
                                                 status_expected)
from hotproxy.upstream.health.state import Event
from hotproxy.upstream.health.tcp_probe import TcpMatcher, received_all


def test_the_request_as_envoy_sends_it():
    assert request_bytes(HttpHealthCheck(path="/healthz"), "backend") == (
        b"GET /healthz HTTP/1.1\r\nhost: backend\r\nuser-agent: Envoy/HC\r\n\r\n")
    assert request_bytes(HttpHealthCheck(path="/", host="hc.example"), "backend").startswith(
        b"GET / HTTP/1.1\r\nhost: hc.example\r\n")


def test_request_headers_to_add_and_remove():
    config = HttpHealthCheck(path="/", request_headers_to_remove=("user-agent",), request_headers_to_add=(
        HeaderValueOption("x-a", "1"), HeaderValueOption("x-a", "2"),
        HeaderValueOption("x-b", "", keep_empty_value=False),
        HeaderValueOption("user-agent", "mine", append_action="OVERWRITE_IF_EXISTS"),
        HeaderValueOption("x-c", "c", append_action="ADD_IF_ABSENT")))
    assert request_bytes(config, "c") == b"GET / HTTP/1.1\r\nhost: c\r\nx-a: 1\r\nx-a: 2\r\nx-c: c\r\n\r\n"
    overwrite = HttpHealthCheck(path="/", request_headers_to_add=(
        HeaderValueOption("user-agent", "mine", append_action="OVERWRITE_IF_EXISTS_OR_ADD"),))
    assert request_bytes(overwrite, "c") == b"GET / HTTP/1.1\r\nhost: c\r\nuser-agent: mine\r\n\r\n"


@pytest.mark.parametrize("status, ranges, expected", [
    (200, ((200, 201),), True), (201, ((200, 201),), False), (204, ((200, 300),), True),
    (300, ((200, 300),), False), (503, ((200, 201), (500, 504)), True), (199, ((200, 201),), False),
])
def test_expected_statuses_are_half_open_ranges(status, ranges, expected):
    assert status_expected(status, ranges) is expected


def feed_all(data, ranges=((200, 201),), chunk=None):
    reader = ResponseReader(ranges)
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    for piece in pieces:
        verdict = reader.feed(piece)
        if verdict is not None:
            return verdict
    return reader.feed_eof()


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_a_passing_response_keeps_the_connection(chunk):
    verdict = feed_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", chunk=chunk)
    assert verdict == Verdict(passed=True, status=200, keep_alive=True)


def test_a_failing_status_and_the_immediate_fail_header():
    assert feed_all(b"HTTP/1.1 503 Unavailable\r\ncontent-length: 0\r\n\r\n") == Verdict(False, 503)
    verdict = feed_all(b"HTTP/1.1 503 x\r\nX-Envoy-Immediate-Health-Check-Fail: true\r\ncontent-length: 0\r\n\r\n")
    assert verdict == Verdict(passed=False, status=503, immediate_fail=True)
    # a passing status with the header is a pass (Envoy reads the header only on failures)
    verdict = feed_all(b"HTTP/1.1 200 OK\r\nx-envoy-immediate-health-check-fail: true\r\ncontent-length: 0\r\n\r\n")
    assert verdict.passed and not verdict.immediate_fail


def test_interim_responses_are_skipped_and_close_delimited_bodies_end_at_eof():
    assert feed_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").passed
    verdict = feed_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbody")
    assert verdict == Verdict(passed=True, status=200, keep_alive=False)


def test_garbage_and_truncation_are_probe_errors():
    with pytest.raises(ProbeError):
        feed_all(b"SSH-2.0-OpenSSH\r\n\r\n")
    reader = ResponseReader(((200, 201),))
    assert reader.feed(b"HTTP/1.1 200 OK\r\ncontent-len") is None
    with pytest.raises(ProbeError):
        reader.feed_eof()


def test_tcp_receive_payloads_are_found_in_order():
    assert received_all(b"xxPONGyyOK", [b"PONG", b"OK"])
    assert not received_all(b"OKxxPONG", [b"PONG", b"OK"])
    assert received_all(b"anything", [])
    matcher = TcpMatcher([b"\x01\x02", b"\x03"])
    assert matcher.needs_reply
    assert not matcher.feed(b"\x00\x01")
    assert not matcher.feed(b"\x02")
    assert matcher.feed(b"\xff\x03")
    assert not TcpMatcher([]).needs_reply


def test_event_lines_have_envoys_shape():
    common = {"health_checker_type": "HTTP",
              "host": {"socket_address": {"protocol": "TCP", "address": "127.0.0.1", "port_value": 8080,
                                          "resolver_name": "", "ipv4_compat": False,
                                          "network_namespace_filepath": ""}},
              "cluster_name": "c"}
    locality = {"region": "", "zone": "", "sub_zone": ""}
    now = 1796528884.868
    eject = event_line(Event("eject_unhealthy", failure_type="ACTIVE", http_status=503), "HTTP", "c",
                       ("127.0.0.1", 8080), now)
    assert eject.endswith("\n") and ": " not in eject
    assert list(json.loads(eject).items()) == list({
        **common, "eject_unhealthy_event": {"failure_type": "ACTIVE", "http_status_code": 503},
        "timestamp": "2026-12-06T03:48:04.868Z", "locality": locality}.items())
    add = json.loads(event_line(Event("add_healthy", first_check=True), "HTTP", "c", ("127.0.0.1", 8080), now))
    assert list(add) == ["health_checker_type", "host", "cluster_name", "add_healthy_event", "timestamp",
                         "locality"]
    failure = json.loads(event_line(Event("health_check_failure", first_check=False, failure_type="NETWORK"),
                                    "TCP", "c", ("127.0.0.1", 8080), now))
    assert list(failure)[3:5] == ["timestamp", "health_check_failure_event"]
    assert failure["health_check_failure_event"] == {"failure_type": "NETWORK", "first_check": False,
                                                     "http_status_code": 0}
    assert timestamp(0.0) == "1970-01-01T00:00:00.000Z"
