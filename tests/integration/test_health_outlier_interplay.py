"""Active health checks beside outlier detection, and passive immediate health-check failure,
through real processes, each test against hotproxy and Envoy 1.40 on the same config:

- a host answering 5xx is ejected by outlier detection; the health checks it keeps passing bring
  it back at once when successful_active_health_check_uneject_host is true (the default), and
  leave it out until its ejection time is up when it is false;
- a proxied response carrying x-envoy-immediate-health-check-fail takes its host out at once
  (``/failed_active_hc/excluded_via_immediate_hc_fail``) and traffic leaves it.
"""
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import http_listener, simple_routes, to_yaml

HEALTH_PATH = "/healthz"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        if self.path == HEALTH_PATH:
            server.checks += 1
            status, headers = server.health_status, []
        else:
            server.proxied += 1
            status = server.status
            headers = [("x-served-by", server.name)] + server.extra_headers
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class Upstream:
    """Answers proxied requests with ``status`` (and ``extra_headers``), health checks with
    ``health_status`` (200)."""

    def __init__(self, name, status=200, extra_headers=()):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.name, self.server.status = name, status
        self.server.extra_headers = list(extra_headers)
        self.server.checks = self.server.proxied = 0
        self.server.health_status = 200
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def label(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def config(upstreams, health_check, outlier=None):
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": u.port}}}}
                 for u in upstreams]
    cluster = {"name": "backend", "type": "STATIC", "connect_timeout": "1s",
               "health_checks": [{"timeout": "1s", "no_traffic_interval": health_check["interval"],
                                  "http_health_check": {"path": HEALTH_PATH}, **health_check}],
               "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": endpoints}]}}
    if outlier is not None:
        cluster["outlier_detection"] = outlier
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [http_listener("http", "listen", routes)], "clusters": [cluster]}})


def get(peer):
    """One request through the peer: (status, x-served-by)."""
    url = f"http://127.0.0.1:{peer.port('listen')}/app"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("x-served-by")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("x-served-by")


def flags(peer, label):
    with urllib.request.urlopen(f"http://127.0.0.1:{peer.port('admin')}/clusters", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"backend::{label}::health_flags::"):
                return line.rpartition("::")[2]
    return None


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def eject(peer, label):
    """Send requests until outlier detection has ejected ``label``; the time it did."""
    def ejected():
        get(peer)
        return peer.counter("cluster.backend.outlier_detection.ejections_enforced_total") >= 1
    return wait_for(ejected, 15, f"{label} to be ejected")


OUTLIER = {"consecutive_5xx": 3, "interval": "10s", "base_ejection_time": "60s",
           "max_ejection_percent": 50}
CHECKS = {"interval": "0.3s", "unhealthy_threshold": 3, "healthy_threshold": 1}


@pytest.mark.parametrize("uneject", [True, False], ids=["uneject", "no-uneject"])
def test_a_passing_health_check_brings_an_ejected_host_back_only_when_configured(peer_factory, uneject):
    bad, good = Upstream("bad", status=503), Upstream("good")
    try:
        peer = peer_factory(config([bad, good], CHECKS, {
            **OUTLIER, "successful_active_health_check_uneject_host": uneject}))
        wait_for(lambda: flags(peer, bad.label) == "healthy" and flags(peer, good.label) == "healthy",
                 10, "both hosts healthy")
        ejected_at = eject(peer, bad.label)
        checks_then = bad.server.checks
        if uneject:
            # the next check (0.3 s) passes: back long before the 60 s ejection time
            back_at = wait_for(lambda: flags(peer, bad.label) == "healthy", 5, "the un-ejection")
            assert back_at - ejected_at < 5
            assert peer.counter("cluster.backend.outlier_detection.ejections_active") == 0
        else:
            time.sleep(2.0)
            assert bad.server.checks > checks_then       # checks kept passing, to no effect
            assert flags(peer, bad.label) == "/failed_outlier_check"
            assert {get(peer)[1] for _ in range(10)} == {"good"}
            assert peer.counter("cluster.backend.outlier_detection.ejections_active") == 1
    finally:
        bad.close()
        good.close()


def test_both_flags_apply_on_their_own(peer_factory):
    """An ejected host whose checks then fail shows both flags; either keeps it out."""
    bad, good = Upstream("bad", status=503), Upstream("good")
    try:
        peer = peer_factory(config([bad, good], CHECKS, {
            **OUTLIER, "successful_active_health_check_uneject_host": False}))
        wait_for(lambda: flags(peer, bad.label) == "healthy", 10, "the bad host healthy")
        eject(peer, bad.label)
        bad.server.health_status = 503
        wait_for(lambda: flags(peer, bad.label) == "/failed_active_hc/failed_outlier_check", 10,
                 "both flags")
        assert {get(peer)[1] for _ in range(10)} == {"good"}
    finally:
        bad.close()
        good.close()


def test_immediate_health_check_fail_on_a_proxied_response_takes_the_host_out(peer_factory, request):
    failing = Upstream("failing", extra_headers=[("x-envoy-immediate-health-check-fail", "true")])
    good = Upstream("good")
    try:
        peer = peer_factory(config([failing, good], {"interval": "30s", "unhealthy_threshold": 3,
                                                     "healthy_threshold": 3}))
        wait_for(lambda: flags(peer, failing.label) == "healthy" and flags(peer, good.label) == "healthy",
                 10, "both hosts healthy")
        wait_for(lambda: get(peer)[1] == "failing", 10, "a response from the failing host")
        wait_for(lambda: flags(peer, failing.label) == "/failed_active_hc/excluded_via_immediate_hc_fail",
                 5, "the immediate failure")
        served = failing.server.proxied
        assert {get(peer)[1] for _ in range(20)} == {"good"}
        assert failing.server.proxied == served
        assert peer.counter("cluster.backend.health_check.passive_failure") == 1
    finally:
        failing.close()
        good.close()
