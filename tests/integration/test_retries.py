"""Route retry policies through the real CLI, each test against hotproxy and (when installed)
Envoy 1.40 on the same config and the same upstream behaviour: status, attempts, attempt-count
headers, response flags and Envoy's retry stats must agree.

The upstream acts on the request target ``/<route>/<behaviour>/<tag>``: ``once-503`` answers 503
to the first request with that target and then 200, ``always-503`` always 503, ``once-418``,
``once-429`` (429 with ``retry-after: 1`` first), ``once-header`` (200 with ``x-retry: yes`` first), ``once-reset`` (closes without answering
first), ``always-reset``, ``503-then-slow`` (503, then 200 after 3 s), ``once-slow`` (answers the first request after 2 s) and ``always-slow`` (3 s). A 200
says ``got <request body>``, so a replayed body can be seen.
"""
from __future__ import annotations

import collections
import threading
import time

import pytest

from harness import RawClient, http_listener, read_lines, refused_port, simple_routes, static_cluster, to_yaml
from raw_upstream import RecordingUpstream

FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
PREVIOUS_HOSTS = {"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}


class ScriptedBackend(RecordingUpstream):
    def __init__(self):
        self.seen = collections.Counter()
        self.lock = threading.Lock()
        super().__init__(self.answer)

    def attempts(self, target):
        return sum(1 for request in self.requests if request.target == target.encode())

    def answer(self, request):
        target = request.target.decode()
        behaviour = target.split("/")[2] if target.count("/") >= 3 else "ok"
        with self.lock:
            self.seen[target] += 1
            first = self.seen[target] == 1
        if behaviour == "always-503" or (behaviour in ("once-503", "503-then-slow") and first):
            return b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nnope"
        if behaviour == "once-429" and first:
            return b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n"
        if behaviour == "once-418" and first:
            return b"HTTP/1.1 418 Teapot\r\ncontent-length: 3\r\n\r\ntea"
        if behaviour == "always-reset" or (behaviour == "once-reset" and first):
            return None
        if behaviour in ("always-slow", "503-then-slow") or (behaviour == "once-slow" and first):
            return lambda conn: _answer_late(conn, 2.0 if behaviour == "once-slow" else 3.0)
        body = b"got " + request.body
        extra = b"x-retry: yes\r\n" if behaviour == "once-header" and first else b""
        return b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n%s" % (extra, len(body), body)


def _answer_late(conn, delay):
    time.sleep(delay)
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate")


def route(prefix, policy=None, cluster="backend", **extra):
    action = {"cluster": cluster, **extra}
    if policy is not None:
        action["retry_policy"] = policy
    return {"match": {"prefix": prefix}, "route": action}


def config(backend_port, log_path, dead_port):
    routes = simple_routes(
        route("/r5xx/", {"retry_on": "5xx", "num_retries": 2}),
        route("/codes/", {"retry_on": "retriable-status-codes", "retriable_status_codes": [418]}),
        route("/hdrs/", {"retry_on": "retriable-headers",
                         "retriable_headers": [{"name": "x-retry", "exact_match": "yes"}]}),
        route("/reset/", {"retry_on": "reset", "num_retries": 1}),
        route("/cf/", {"retry_on": "connect-failure"}),
        route("/pertry/", {"retry_on": "5xx", "per_try_timeout": "0.5s"}, timeout="5s"),
        route("/global/", {"retry_on": "5xx", "num_retries": 10, "per_try_timeout": "0.4s",
                           "retry_back_off": {"base_interval": "0.01s"}}, timeout="1s"),
        route("/small/", {"retry_on": "5xx"}),  # per_request_buffer_limit_bytes: 10 below
        route("/pair/", {"retry_on": "connect-failure", "num_retries": 1,
                         "retry_host_predicate": [PREVIOUS_HOSTS],
                         "host_selection_retry_max_attempts": 4}, cluster="pair"),
        route("/none/"),
        route("/idle/", {"retry_on": "5xx", "per_try_idle_timeout": "0.5s"}),
        route("/rbr/", {"retry_on": "reset-before-request"}, cluster="dead"),
        route("/tries/", {"retry_on": "gateway-error", "per_try_timeout": "0.3s"}, timeout="5s"),
        route("/limited/", {"retry_on": "retriable-status-codes", "retriable_status_codes": [429],
                            "rate_limited_retry_back_off": {"reset_headers": [{"name": "retry-after"}],
                                                            "max_interval": "5s"}}))
    vhost = routes["virtual_hosts"][0]
    vhost["include_attempt_count_in_response"] = True
    vhost["include_request_attempt_count"] = True
    vhost["routes"][7]["per_request_buffer_limit_bytes"] = 10
    access_log = {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": FILE_LOG, "path": str(log_path), "log_format": {"text_format_source": {
            "inline_string": "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n"}}}}
    pair = static_cluster("pair", backend_port)
    # weighted round robin, dead:live = 3:1, so a pick right after the dead host is likely the
    # dead host again: only previous_hosts (with 4 more picks) reaches the live one every time
    pair["load_assignment"]["endpoints"][0]["lb_endpoints"] = [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": dead_port}}},
         "load_balancing_weight": 3},
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": backend_port}}},
         "load_balancing_weight": 1}]
    dead = static_cluster("dead", dead_port)
    vhost["routes"][4]["route"]["cluster"] = "dead"
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {
            "listeners": [http_listener("http", "listen", routes, {"access_log": [access_log]})],
            "clusters": [static_cluster("backend", backend_port), pair, dead]}})


@pytest.fixture
def backend():
    server = ScriptedBackend()
    yield server
    server.close()


@pytest.fixture
def start(peer_factory, backend, tmp_path):
    log_path = tmp_path / "access.log"

    def start_peer():
        peer = peer_factory(config(backend.port, log_path, refused_port()))
        peer.log_path = log_path
        return peer
    return start_peer


def get(peer, path, method="GET", body=None, headers=()):
    client = RawClient(peer.port("listen"))
    try:
        return client.request(method, path, headers=[("Host", "example.com"), *headers], body=body)
    finally:
        client.close()


def logged(peer, count):
    """{path: "status flags"} from the access log; both print the flags in the order they were
    set (URX before UF/UC)."""
    lines = {}
    for line in read_lines(peer.log_path, count):
        path, status, flags = line.split()
        lines[path] = f"{status} {flags}"
    return lines


def stats(peer, cluster="backend"):
    names = ("upstream_rq_retry", "upstream_rq_retry_success", "upstream_rq_retry_limit_exceeded",
             "upstream_rq_retry_backoff_exponential", "upstream_rq_per_try_timeout",
             "upstream_rq_timeout", "retry_or_shadow_abandoned", "upstream_rq_retry_overflow")
    return {name: peer.counter(f"cluster.{cluster}.{name}") for name in names}


def nonzero(counts):
    return {name: value for name, value in counts.items() if value}


def test_5xx_retried_with_attempt_counts_both_ways(start, backend):
    peer = start()
    response = get(peer, "/r5xx/once-503/a")
    assert (response.status, response.body) == (200, b"got ")
    assert response.header("x-envoy-attempt-count") == "2"
    sent = [r for r in backend.requests if r.target == b"/r5xx/once-503/a"]
    assert [r.header(b"x-envoy-attempt-count") for r in sent] == [b"1", b"2"]
    # a retry announces what is left of the route timeout
    first, second = (int(r.header(b"x-envoy-expected-rq-timeout-ms")) for r in sent)
    assert first == 15000 and 14000 < second <= 15000
    assert nonzero(stats(peer)) == {"upstream_rq_retry": 1, "upstream_rq_retry_success": 1,
                                    "upstream_rq_retry_backoff_exponential": 1}


def test_retries_stop_at_num_retries_with_urx(start, backend):
    peer = start()
    response = get(peer, "/r5xx/always-503/b")
    assert (response.status, response.body) == (503, b"nope")   # the last answer, as it came
    assert response.header("x-envoy-attempt-count") == "3"
    assert backend.attempts("/r5xx/always-503/b") == 3
    assert logged(peer, 1)["/r5xx/always-503/b"] == "503 URX"
    assert nonzero(stats(peer)) == {"upstream_rq_retry": 2, "upstream_rq_retry_limit_exceeded": 1,
                                    "upstream_rq_retry_backoff_exponential": 2}


def test_retriable_status_codes_headers_and_reset(start, backend):
    peer = start()
    assert get(peer, "/codes/once-418/c").status == 200
    assert backend.attempts("/codes/once-418/c") == 2
    assert get(peer, "/codes/always-503/c").status == 503     # 503 is not among the codes
    assert backend.attempts("/codes/always-503/c") == 1
    response = get(peer, "/hdrs/once-header/d")
    assert response.status == 200 and response.header("x-retry") is None
    assert backend.attempts("/hdrs/once-header/d") == 2
    response = get(peer, "/reset/once-reset/e")
    assert (response.status, response.header("x-envoy-attempt-count")) == (200, "2")
    assert backend.attempts("/reset/once-reset/e") == 2
    assert stats(peer)["upstream_rq_retry"] == 3


def test_reset_retries_exhausted(start, backend):
    peer = start()
    response = get(peer, "/reset/always-reset/f")
    assert response.status == 503
    assert response.body == (b"upstream connect error or disconnect/reset before headers. "
                             b"retried and the latest reset reason: connection termination")
    assert backend.attempts("/reset/always-reset/f") == 2
    assert logged(peer, 1)["/reset/always-reset/f"] == "503 URX,UC"


def test_connect_failure_retried_on_another_host(start, backend):
    peer = start()
    for n in range(8):
        response = get(peer, f"/pair/ok/{n}")
        assert (response.status, response.body) == (200, b"got "), n
    counts = stats(peer, "pair")
    failures = peer.counter("cluster.pair.upstream_cx_connect_fail")
    assert failures >= 2       # the dead host is picked first three times in four
    assert counts["upstream_rq_retry"] == counts["upstream_rq_retry_success"] == failures


def test_connect_failure_exhausted(start):
    peer = start()
    response = get(peer, "/cf/ok/g")
    assert response.status == 503
    assert response.body == (b"upstream connect error or disconnect/reset before headers. "
                             b"retried and the latest reset reason: remote connection failure")
    assert response.header("x-envoy-attempt-count") == "2"
    assert logged(peer, 1)["/cf/ok/g"] == "503 URX,UF"
    assert nonzero(stats(peer, "dead")) == {"upstream_rq_retry": 1,
                                            "upstream_rq_retry_limit_exceeded": 1,
                                            "upstream_rq_retry_backoff_exponential": 1}


def test_reset_before_request_retries_a_connect_failure(start):
    peer = start()
    response = get(peer, "/rbr/ok/r")
    assert (response.status, response.header("x-envoy-attempt-count")) == (503, "2")
    assert logged(peer, 1)["/rbr/ok/r"] == "503 URX,UF"


def test_per_try_timeouts_exhausted(start, backend):
    peer = start()
    response = get(peer, "/tries/always-slow/s")
    assert (response.status, response.body) == (504, b"upstream request timeout")
    assert backend.attempts("/tries/always-slow/s") == 2
    assert logged(peer, 1)["/tries/always-slow/s"] == "504 URX,UT"
    counts = stats(peer)
    assert (counts["upstream_rq_per_try_timeout"], counts["upstream_rq_timeout"],
            counts["upstream_rq_retry_limit_exceeded"]) == (2, 0, 1)


def test_client_retry_headers_are_not_trusted(start, backend):
    """Envoy 1.40 honours x-envoy-retry-on and x-envoy-max-retries only from internal requests;
    without internal_address_config (which hotproxy does not support) none is internal."""
    peer = start()
    response = get(peer, "/r5xx/always-503/h", headers=[("x-envoy-max-retries", "0")])
    assert response.status == 503 and backend.attempts("/r5xx/always-503/h") == 3
    response = get(peer, "/none/always-503/h", headers=[("x-envoy-retry-on", "5xx"),
                                                        ("x-envoy-max-retries", "3")])
    assert response.status == 503 and backend.attempts("/none/always-503/h") == 1
    sent = [r for r in backend.requests if r.target.endswith(b"/h")]
    assert all(r.header(b"x-envoy-retry-on") is None and r.header(b"x-envoy-max-retries") is None
               for r in sent)


def test_per_try_timeout_retries_and_the_route_timeout_bounds_all(start, backend):
    peer = start()
    response = get(peer, "/pertry/once-slow/i")
    assert (response.status, response.body) == (200, b"got ")
    assert backend.attempts("/pertry/once-slow/i") == 2
    sent = [r for r in backend.requests if r.target == b"/pertry/once-slow/i"]
    assert [r.header(b"x-envoy-expected-rq-timeout-ms") for r in sent] == [b"500", b"500"]
    assert stats(peer)["upstream_rq_per_try_timeout"] == 1
    response = get(peer, "/global/always-slow/j")
    assert (response.status, response.body) == (504, b"upstream request timeout")
    attempts = backend.attempts("/global/always-slow/j")
    assert 2 <= attempts < 11          # per-try timeouts retried until the route timeout
    counts = stats(peer)
    assert counts["upstream_rq_timeout"] == 1
    assert counts["upstream_rq_per_try_timeout"] >= 2
    assert logged(peer, 2)["/global/always-slow/j"] == "504 UT"


def test_max_retries_overflow_means_no_retry(start, backend):
    """circuit_breakers max_retries (default 3): a fourth retry outstanding at once is refused."""
    peer = start()
    results = {}

    def call(n):
        results[n] = get(peer, f"/r5xx/503-then-slow/q{n}")

    threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(response.status for response in results.values())
    assert statuses == [200, 200, 200, 503]
    overflowed = next(n for n, response in results.items() if response.status == 503)
    assert logged(peer, 4)[f"/r5xx/503-then-slow/q{overflowed}"] == "503 UO"
    counts = stats(peer)
    assert (counts["upstream_rq_retry"], counts["upstream_rq_retry_overflow"]) == (3, 1)


def test_rate_limited_back_off_from_retry_after(start, backend):
    peer = start()
    response = get(peer, "/limited/once-429/p")
    assert response.status == 200 and backend.attempts("/limited/once-429/p") == 2
    assert peer.counter("cluster.backend.upstream_rq_retry_backoff_ratelimited") == 1
    assert peer.counter("cluster.backend.upstream_rq_retry_backoff_exponential") == 0


def test_per_try_idle_timeout_retries(start, backend):
    peer = start()
    response = get(peer, "/idle/once-slow/o")
    assert (response.status, response.body) == (200, b"got ")
    assert backend.attempts("/idle/once-slow/o") == 2
    assert peer.counter("cluster.backend.upstream_rq_per_try_idle_timeout") == 1


def test_post_body_replayed(start, backend):
    peer = start()
    response = get(peer, "/r5xx/once-503/k", method="POST", body=b"payload-k")
    assert (response.status, response.body) == (200, b"got payload-k")
    assert [r.body for r in backend.requests if r.target == b"/r5xx/once-503/k"] == [
        b"payload-k", b"payload-k"]
    client = RawClient(peer.port("listen"))
    client.send(b"POST /r5xx/once-503/l HTTP/1.1\r\nHost: example.com\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
    response = client.read_response()
    client.close()
    assert (response.status, response.body) == (200, b"got abcdefg")
    assert [r.body for r in backend.requests if r.target == b"/r5xx/once-503/l"] == [
        b"abcdefg"] * 2


def test_body_over_the_buffer_limit_is_not_retried(start, backend):
    peer = start()
    response = get(peer, "/small/once-503/m", method="POST", body=b"x" * 100)
    assert response.status == 503 and backend.attempts("/small/once-503/m") == 1
    assert stats(peer)["retry_or_shadow_abandoned"] == 1
    response = get(peer, "/small/once-503/n", method="POST", body=b"tiny")
    assert (response.status, response.body) == (200, b"got tiny")
    assert stats(peer)["upstream_rq_retry"] == 1


def test_stale_pooled_connection_still_replaced_on_a_retrying_route(peer_factory):
    from harness import ScriptedUpstream

    def one_request_then_close(server, conn):
        server.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(0.2)  # keep-alive was promised, but the upstream drops the connection

    upstream = ScriptedUpstream(one_request_then_close)
    try:
        routes = simple_routes(route("/", {"retry_on": "retriable-status-codes",
                                           "retriable_status_codes": [418]}))
        peer = peer_factory(to_yaml({
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
            "static_resources": {"listeners": [http_listener("http", "listen", routes)],
                                 "clusters": [static_cluster("backend", upstream.port)]}}))
        client = RawClient(peer.port("listen"))
        assert client.request("POST", "/1", body=b"a").body == b"ok"
        time.sleep(0.5)
        assert client.request("POST", "/2", body=b"b").body == b"ok"
        client.close()
    finally:
        upstream.close()
