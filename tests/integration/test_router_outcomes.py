"""The router reports each upstream attempt's outcome to the cluster's outlier detection: a host
answering 5xx, refusing connections or timing out is ejected from every worker, on the plain path
and on a retrying route, as in Envoy (consecutive_5xx counts local-origin failures as 5xx unless
split_external_local_origin_errors)."""
import time
import urllib.request

import pytest

from harness import RawClient, admin_stats, free_port, http_listener, simple_routes, to_yaml
from raw_upstream import RecordingUpstream

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
OUTLIER = {"consecutive_5xx": 3, "interval": "0.1s", "base_ejection_time": "60s",
           "max_ejection_percent": 50}


def answer(status):
    def respond(request):
        body = b"from %d" % status
        return b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body)
    return respond


def silent(request):
    return lambda conn: time.sleep(5)


def config(good_port, bad_port, route_extra=None, outlier=OUTLIER):
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                 for port in (good_port, bad_port)]
    action = {"cluster": "backend", "timeout": "0.3s", **(route_extra or {})}
    cluster = {"name": "backend", "connect_timeout": "1s",
               "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": endpoints}]}}
    if outlier is not None:
        cluster["outlier_detection"] = outlier
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", simple_routes({"match": {"prefix": "/"}, "route": action}))],
        "clusters": [cluster]}})


def flags(proxy, port):
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('admin')}/clusters", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"backend::127.0.0.1:{port}::health_flags::"):
                return line.rpartition("::")[2]
    return None


def request(proxy):
    client = RawClient(proxy.port("listen"))
    try:
        return client.request(path=f"/{time.monotonic()}")
    finally:
        client.close()


def eject(proxy, port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request(proxy)
        if flags(proxy, port) == "/failed_outlier_check":
            return
    raise AssertionError(f"127.0.0.1:{port} was never ejected")


@pytest.mark.parametrize("route_extra", [None, {"retry_policy": {"retry_on": "5xx,reset,connect-failure",
                                                                  "num_retries": 1}}],
                         ids=["plain", "retrying"])
@pytest.mark.parametrize("failure", ["5xx", "connect_failure", "timeout"])
def test_a_failing_host_is_ejected_and_every_worker_stops_using_it(proxy_factory, failure, route_extra):
    good = RecordingUpstream(answer(200))
    bad = None
    if failure == "connect_failure":
        bad_port = free_port()          # nothing listens there
    else:
        bad = RecordingUpstream(answer(503) if failure == "5xx" else silent)
        bad_port = bad.port
    proxy = proxy_factory(config(good.port, bad_port, route_extra), extra_args=("--concurrency", "2"))
    try:
        eject(proxy, bad_port)
        assert flags(proxy, good.port) == "healthy"
        responses = [request(proxy) for _ in range(20)]
        assert [(r.status, r.body) for r in responses] == [(200, b"from 200")] * 20
        stats = admin_stats(proxy.port("admin"), "^cluster.backend.outlier_detection.")
        assert stats["cluster.backend.outlier_detection.ejections_enforced_consecutive_5xx"] == 1
    finally:
        good.close()
        if bad is not None:
            bad.close()


def test_successes_keep_a_host_in(proxy_factory):
    # 5xx interleaved with 2xx on one host never make three consecutive ones
    statuses = iter([503, 503, 200] * 20)
    flaky = RecordingUpstream(lambda request: answer(next(statuses))(request))
    good = RecordingUpstream(answer(200))
    proxy = proxy_factory(config(flaky.port, good.port),
                          extra_args=("--concurrency", "1"))
    try:
        while len(flaky.requests) < 30:
            request(proxy)
        time.sleep(0.3)
        assert flags(proxy, flaky.port) == "healthy"
    finally:
        flaky.close()
        good.close()
