"""Route hedge_policy (hedge_on_per_try_timeout) through the real CLI, each test against hotproxy
and (when installed) Envoy 1.40 on the same config and the same upstream: status, which attempt
answered, attempt counts, response flags and the retry and timeout stats must agree.

The upstream acts on the request target ``/<route>/<behaviour>/<tag>``: ``first-slow`` answers
the first request with that target after 2 s (``late``) and every later one at once;
``always-slow`` answers after 3 s; ``first-slow-then-503`` answers the first after 1 s and the
later ones 503 at once. A prompt 200 says ``attempt <n>``, from the request's
x-envoy-attempt-count, so the client can tell which attempt won.
"""
from __future__ import annotations

import collections
import threading
import time

import pytest

from harness import RawClient, http_listener, read_lines, simple_routes, static_cluster, to_yaml
from raw_upstream import RecordingUpstream

FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
POLICY = {"retry_on": "5xx", "num_retries": 1, "per_try_timeout": "0.3s",
          "retry_back_off": {"base_interval": "0.01s"}}


class ScriptedBackend(RecordingUpstream):
    def __init__(self):
        self.seen = collections.Counter()
        self.lock = threading.Lock()
        super().__init__(self.answer)

    def attempts(self, target):
        return sum(1 for request in self.requests if request.target == target.encode())

    def answer(self, request):
        target = request.target.decode()
        behaviour = target.split("/")[2]
        with self.lock:
            self.seen[target] += 1
            first = self.seen[target] == 1
        if behaviour == "always-slow":
            return lambda conn: _answer_late(conn, 3.0)
        if first and behaviour == "first-slow":
            return lambda conn: _answer_late(conn, 2.0)
        if first and behaviour == "first-slow-then-503":
            return lambda conn: _answer_late(conn, 1.0)
        if behaviour == "first-slow-then-503":
            return b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nnope"
        body = b"attempt " + (request.header(b"x-envoy-attempt-count") or b"?")
        return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def _answer_late(conn, delay):
    time.sleep(delay)
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate")
    except OSError:
        pass        # the proxy reset this attempt


def config(backend_port, log_path):
    routes = simple_routes(
        # the virtual host's hedge policy applies: the route has none of its own
        {"match": {"prefix": "/hedge/"}, "route": {"cluster": "backend", "timeout": "1.5s"}},
        {"match": {"prefix": "/long/"}, "route": {"cluster": "backend", "timeout": "4s"}},
        # its own (empty) hedge policy replaces the virtual host's: plain per-try timeouts
        {"match": {"prefix": "/off/"}, "route": {"cluster": "backend", "timeout": "1.5s",
                                                 "hedge_policy": {}}},
        # hedging without retries left to make: the per-try timeout does nothing
        {"match": {"prefix": "/none/"}, "route": {
            "cluster": "backend", "timeout": "1s", "hedge_policy": {"hedge_on_per_try_timeout": True},
            "retry_policy": {**POLICY, "num_retries": 0}}})
    vhost = routes["virtual_hosts"][0]
    vhost["retry_policy"] = POLICY
    vhost["hedge_policy"] = {"hedge_on_per_try_timeout": True, "initial_requests": 1}
    vhost["include_attempt_count_in_response"] = True
    vhost["include_request_attempt_count"] = True
    access_log = {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": FILE_LOG, "path": str(log_path), "log_format": {"text_format_source": {
            "inline_string": "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n"}}}}
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {
            "listeners": [http_listener("http", "listen", routes, {"access_log": [access_log]})],
            "clusters": [static_cluster("backend", backend_port)]}})


@pytest.fixture
def backend():
    server = ScriptedBackend()
    yield server
    server.close()


@pytest.fixture
def peer(peer_factory, backend, tmp_path):
    log_path = tmp_path / "access.log"
    started = peer_factory(config(backend.port, log_path))
    started.log_path = log_path
    return started


def get(peer, path, headers=()):
    client = RawClient(peer.port("listen"))
    try:
        began = time.monotonic()
        response = client.request("GET", path, headers=[("Host", "example.com"), *headers])
        response.elapsed = time.monotonic() - began
        return response
    finally:
        client.close()


def logged(peer, count):
    lines = {}
    for line in read_lines(peer.log_path, count):
        path, status, flags = line.split()
        lines[path] = f"{status} {flags}"
    return lines


def stats(peer):
    names = ("upstream_rq_total", "upstream_rq_retry", "upstream_rq_retry_success",
             "upstream_rq_retry_limit_exceeded", "upstream_rq_retry_backoff_exponential",
             "upstream_rq_per_try_timeout", "upstream_rq_timeout", "upstream_rq_retry_overflow")
    counts = {name: peer.counter(f"cluster.backend.{name}") for name in names}
    return {name: value for name, value in counts.items() if value}


def sent(backend, target):
    return [r for r in backend.requests if r.target == target.encode()]


def test_the_hedged_attempt_answers_first(peer, backend):
    response = get(peer, "/hedge/first-slow/a")
    assert (response.status, response.body) == (200, b"attempt 2")
    assert response.header("x-envoy-attempt-count") == "2"
    assert response.elapsed < 1.0           # the first attempt would answer after 2 s
    assert backend.attempts("/hedge/first-slow/a") == 2
    # both attempts expect the route timeout, not the per-try one (Envoy, when hedging)
    first, second = (int(r.header(b"x-envoy-expected-rq-timeout-ms"))
                     for r in sent(backend, "/hedge/first-slow/a"))
    assert first == 1500 and 1000 < second < 1500
    assert logged(peer, 1)["/hedge/first-slow/a"] == "200 -"
    assert stats(peer) == {"upstream_rq_total": 2, "upstream_rq_retry": 1,
                           "upstream_rq_retry_success": 1,
                           "upstream_rq_retry_backoff_exponential": 1}


def test_both_stall_until_the_route_timeout(peer, backend):
    response = get(peer, "/hedge/always-slow/b")
    assert (response.status, response.body) == (504, b"upstream request timeout")
    assert 1.4 < response.elapsed < 2.5
    assert response.header("x-envoy-attempt-count") == "2"
    assert backend.attempts("/hedge/always-slow/b") == 2
    assert logged(peer, 1)["/hedge/always-slow/b"] == "504 URX,UT"
    # the route timeout resets both attempts: one upstream_rq_timeout each
    assert stats(peer) == {"upstream_rq_total": 2, "upstream_rq_retry": 1,
                           "upstream_rq_retry_limit_exceeded": 1,
                           "upstream_rq_retry_backoff_exponential": 1, "upstream_rq_timeout": 2}


def test_the_first_attempt_wins_over_a_bad_hedge(peer, backend):
    """The hedged attempt's 503 cannot be retried (no retries left) while the first attempt is
    still out: it is dropped, and the first attempt's late answer is the response."""
    response = get(peer, "/long/first-slow-then-503/c")
    assert (response.status, response.body) == (200, b"late")
    assert 0.9 < response.elapsed < 2.0
    assert backend.attempts("/long/first-slow-then-503/c") == 2
    assert logged(peer, 1)["/long/first-slow-then-503/c"] == "200 URX"
    assert stats(peer) == {"upstream_rq_total": 2, "upstream_rq_retry": 1,
                           "upstream_rq_retry_limit_exceeded": 1,
                           "upstream_rq_retry_backoff_exponential": 1}


def test_a_route_policy_without_hedging_cancels_at_the_per_try_timeout(peer, backend):
    response = get(peer, "/off/first-slow/d")
    assert (response.status, response.body) == (200, b"attempt 2")
    assert [int(r.header(b"x-envoy-expected-rq-timeout-ms"))
            for r in sent(backend, "/off/first-slow/d")] == [300, 300]
    assert stats(peer) == {"upstream_rq_total": 2, "upstream_rq_retry": 1,
                           "upstream_rq_retry_success": 1, "upstream_rq_per_try_timeout": 1,
                           "upstream_rq_retry_backoff_exponential": 1}


def test_the_hedge_header_from_a_client_is_not_obeyed(peer, backend):
    """x-envoy-hedge-on-per-try-timeout steers Envoy's router only on internal requests; a
    client's is removed (no peer is internal without internal_address_config) and never
    forwarded."""
    response = get(peer, "/off/first-slow/e", headers=[("x-envoy-hedge-on-per-try-timeout", "true")])
    assert (response.status, response.body) == (200, b"attempt 2")
    assert stats(peer)["upstream_rq_per_try_timeout"] == 1      # cancelled, not hedged
    response = get(peer, "/hedge/first-slow/f", headers=[("x-envoy-hedge-on-per-try-timeout", "false")])
    assert (response.status, response.body) == (200, b"attempt 2")
    assert stats(peer)["upstream_rq_per_try_timeout"] == 1      # hedged: not counted again
    assert all(r.header(b"x-envoy-hedge-on-per-try-timeout") is None for r in backend.requests)


def test_hedging_without_retries_left_waits_for_the_first(peer, backend):
    response = get(peer, "/none/first-slow/g")
    assert (response.status, response.body) == (504, b"upstream request timeout")
    assert 0.9 < response.elapsed < 1.8
    assert backend.attempts("/none/first-slow/g") == 1
    assert logged(peer, 1)["/none/first-slow/g"] == "504 URX,UT"
    assert stats(peer) == {"upstream_rq_total": 1, "upstream_rq_retry_limit_exceeded": 1,
                           "upstream_rq_timeout": 1}
