"""Active health checking through real processes: checks run once per cluster in the arbiter,
workers balance over the healthy hosts only, and health survives reloads and hot restarts."""
import json
import signal
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import pytest

from harness import (RawClient, admin_stats, http_listener, post_until, reload, rewrite,
                     simple_routes, to_yaml, wait_for_log, workers)

HEALTH_PATH = "/healthz"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.server.open_connections.add(self.connection)

    def finish(self):
        self.server.open_connections.discard(self.connection)
        super().finish()

    def do_GET(self):
        server = self.server
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == HEALTH_PATH:
            status = server.health_status
            server.checks.append({"status": status, "headers": dict(self.headers)})
            headers = [("x-envoy-immediate-health-check-fail", "true")] if server.immediate_fail else []
        else:
            server.proxied += 1
            status, headers = 200, [("x-served-by", str(server.server_address[1]))]
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = do_GET


class HealthUpstream:
    """An HTTP upstream whose health endpoint answers ``health_status``, counting health checks
    and proxied requests apart; ``kill`` closes its listener and every connection, ``revive``
    listens again on the same port."""

    def __init__(self, port=0):
        self.health_status = 200
        self.immediate_fail = False
        self.checks = []
        self.proxied = 0
        self.port = port
        self._server = None
        self.revive()

    def revive(self):
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        server.open_connections = set()
        server.checks, server.proxied = self.checks, 0
        server.health_status, server.immediate_fail = self.health_status, self.immediate_fail
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def set_health(self, status, immediate_fail=False):
        self.health_status = self._server.health_status = status
        self.immediate_fail = self._server.immediate_fail = immediate_fail

    @property
    def served(self):
        return self._server.proxied

    def kill(self):
        server = self._server
        server.shutdown()
        server.server_close()
        for conn in list(server.open_connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def upstreams():
    started = []

    def start(count):
        started.extend(HealthUpstream() for _ in range(count))
        return started[-count:]

    yield start
    for upstream in started:
        try:
            upstream.kill()
        except OSError:
            pass


def health_check(**overrides):
    check = {"timeout": "1s", "interval": "0.2s", "no_traffic_interval": "0.2s",
             "unhealthy_threshold": 2, "healthy_threshold": 2,
             "http_health_check": {"path": HEALTH_PATH, "host": "hc.test"}}
    check.update(overrides)
    return check


def config(upstreams, check, tag="one"):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"},
             "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]}
    cluster = {"name": "backend", "connect_timeout": "1s", "health_checks": [check],
               "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": [
                   {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": u.port}}}}
                   for u in upstreams]}]}}
    tree = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
            "static_resources": {"listeners": [http_listener("http", "listen", simple_routes(route))],
                                 "clusters": [cluster]}}
    return to_yaml(tree)


def clusters_json(proxy):
    url = f"http://127.0.0.1:{proxy.port('admin')}/clusters?format=json"
    with urllib.request.urlopen(url, timeout=10) as response:
        statuses = json.load(response)["cluster_statuses"]
    return {h["address"]["socket_address"]["port_value"]: h["health_status"]
            for s in statuses if s["name"] == "backend" for h in s["host_statuses"]}


def clusters_text(proxy):
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('admin')}/clusters", timeout=10) as response:
        return response.read().decode()


def wait_until(condition, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def failed(proxy, upstream):
    return clusters_json(proxy).get(upstream.port, {}).get("failed_active_health_check", False)


def load(port, duration=None, stop=None):
    """GETs on one keep-alive connection; (statuses, errors)."""
    statuses, errors = [], []
    client = RawClient(port)
    deadline = time.monotonic() + duration if duration else None
    while (deadline is None or time.monotonic() < deadline) and (stop is None or not stop.is_set()):
        try:
            statuses.append(client.request("GET", "/work").status)
        except (OSError, EOFError) as exc:
            errors.append(repr(exc))
            client = RawClient(port)
    client.close()
    return statuses, errors


def test_a_killed_upstream_is_ejected_and_comes_back(proxy_factory, upstreams):
    a, b, c = upstreams(3)
    proxy = proxy_factory(config([a, b, c], health_check()), extra_args=["--concurrency", "2"])
    statuses, errors = load(proxy.port("listen"), duration=0.5)
    assert errors == [] and set(statuses) == {200}
    assert a.served and b.served and c.served
    c.kill()
    wait_until(lambda: failed(proxy, c), what="the killed upstream to be ejected")
    served_before = a.served + b.served
    statuses, errors = load(proxy.port("listen"), duration=1.0)
    assert errors == [] and statuses and set(statuses) == {200}
    assert a.served + b.served - served_before == len(statuses)   # none went to the dead one

    text = clusters_text(proxy)
    assert f"backend::127.0.0.1:{c.port}::health_flags::/failed_active_hc" in text
    assert f"backend::127.0.0.1:{a.port}::health_flags::healthy" in text
    stats = admin_stats(proxy.port("admin"), "^cluster.backend.(health_check|membership)")
    assert stats["cluster.backend.health_check.healthy"] == 2
    assert stats["cluster.backend.membership_healthy"] == 2
    assert stats["cluster.backend.membership_total"] == 3
    for name in ("attempt", "success", "failure", "network_failure"):
        assert stats[f"cluster.backend.health_check.{name}"] > 0, name
    assert stats["cluster.backend.health_check.passive_failure"] == 0

    checks_before = len(c.checks)
    c.revive()
    wait_until(lambda: not failed(proxy, c), what="the revived upstream to be healthy again")
    assert len(c.checks) - checks_before >= 2      # healthy_threshold passes
    statuses, errors = load(proxy.port("listen"), duration=0.5)
    assert errors == [] and set(statuses) == {200}
    assert c.served > 0


def test_checks_run_once_per_cluster_not_per_worker(proxy_factory, upstreams):
    """Each host's first check runs at start; with 60 s intervals nothing else does. Two
    workers checking would make two, and a reload that restarted the checks would add one."""
    a, b = upstreams(2)
    check = health_check(interval="60s", no_traffic_interval="60s")
    proxy = proxy_factory(config([a, b], check), extra_args=["--concurrency", "2"])
    statuses, errors = load(proxy.port("listen"), duration=0.3)
    assert errors == [] and set(statuses) == {200}
    time.sleep(1.0)
    assert (len(a.checks), len(b.checks)) == (1, 1)
    assert a.checks[0]["headers"] == {"host": "hc.test", "user-agent": "Envoy/HC"}
    rewrite(proxy, config([a, b], check, tag="two"))
    reload(proxy, 1)
    time.sleep(0.5)
    assert (len(a.checks), len(b.checks)) == (1, 1)
    stats = admin_stats(proxy.port("admin"), "^cluster.backend.health_check.attempt$")
    assert stats["cluster.backend.health_check.attempt"] == 2


def test_immediate_health_check_fail_ejects_at_once(proxy_factory, upstreams, tmp_path):
    """After a host is ejected the next check waits unhealthy_interval (30 s); a failure short of
    the threshold would wait unhealthy_edge_interval (30 s too). So one failing check seen means
    it ejected the host on its own."""
    a, b = upstreams(2)
    events = tmp_path / "events.log"
    check = health_check(unhealthy_threshold=5, unhealthy_interval="30s", event_log_path=str(events))
    proxy = proxy_factory(config([a, b], check))
    # traffic, seen by the arbiter (an admin read collects it): no_traffic_interval applies no more
    assert load(proxy.port("listen"), duration=0.2)[0]
    assert admin_stats(proxy.port("admin"), "^cluster.backend.upstream_cx_total$")["cluster.backend.upstream_cx_total"]
    b.set_health(503, immediate_fail=True)
    wait_until(lambda: failed(proxy, b), what="the host to be ejected")
    status = clusters_json(proxy)[b.port]
    assert status == {"failed_active_health_check": True, "eds_health_status": "HEALTHY",
                      "excluded_via_immediate_hc_fail": True}
    assert f"::127.0.0.1:{b.port}::health_flags::/failed_active_hc/excluded_via_immediate_hc_fail" \
        in clusters_text(proxy)
    time.sleep(0.5)
    assert [check["status"] for check in b.checks].count(503) == 1
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    ejections = [line for line in lines if "eject_unhealthy_event" in line]
    assert len(ejections) == 1
    assert ejections[0]["eject_unhealthy_event"] == {"failure_type": "ACTIVE", "http_status_code": 503}
    assert ejections[0]["cluster_name"] == "backend" and ejections[0]["health_checker_type"] == "HTTP"
    assert ejections[0]["host"]["socket_address"]["port_value"] == b.port
    assert [line["add_healthy_event"] for line in lines if "add_healthy_event" in line] == \
        [{"first_check": True}, {"first_check": True}]
    stats = admin_stats(proxy.port("admin"), "^cluster.backend.membership_(excluded|healthy)$")
    assert stats == {"cluster.backend.membership_excluded": 1, "cluster.backend.membership_healthy": 1}


def test_a_reload_keeps_health_state(proxy_factory, upstreams):
    """x is ejected, then passes its checks again but needs 1000 passes to come back. A reload
    that changes the route (not the cluster) keeps the checker: x stays out, no request fails.
    A checker started afresh would let x in at its first pass."""
    a, b, x = upstreams(3)
    check = health_check(unhealthy_threshold=1, healthy_threshold=1000)
    proxy = proxy_factory(config([a, b, x], check), extra_args=["--concurrency", "2"])
    x.set_health(503)
    wait_until(lambda: failed(proxy, x), what="x to be ejected")
    x.set_health(200)
    stop, failures, done = threading.Event(), [], [0]
    clients = [threading.Thread(target=post_until, args=(proxy.port("listen"), stop, failures, done))
               for _ in range(2)]
    served_by_x = x.served
    for client in clients:
        client.start()
    try:
        time.sleep(0.3)
        rewrite(proxy, config([a, b, x], check, tag="two"))
        reload(proxy, 1)
        wait_until(lambda: RawClient(proxy.port("listen")).request().header("x-config") == "two",
                   what="the new generation")
        time.sleep(1.0)
    finally:
        stop.set()
        for client in clients:
            client.join()
    assert failures == [] and done[0] > 0
    assert x.served == served_by_x
    assert failed(proxy, x) and not failed(proxy, a) and not failed(proxy, b)
    passes = [check["status"] for check in x.checks].count(200)
    assert passes > 1            # x passed checks meanwhile: only its kept state keeps it out


def test_when_fewer_than_half_are_healthy_every_host_serves(proxy_factory, upstreams):
    """Envoy's default healthy_panic_threshold (50%): one healthy host of three is not enough to
    carry the cluster, so all three take requests, each counted in lb_healthy_panic."""
    a, b, c = upstreams(3)
    b.set_health(503)
    c.set_health(503)
    proxy = proxy_factory(config([a, b, c], health_check()))
    wait_until(lambda: failed(proxy, b) and failed(proxy, c), what="b and c to be ejected")
    statuses, errors = load(proxy.port("listen"), duration=0.5)
    assert errors == [] and set(statuses) == {200}
    assert a.served and b.served and c.served
    stats = admin_stats(proxy.port("admin"), "^cluster.backend.(lb_healthy_panic|membership_healthy)$")
    assert stats["cluster.backend.lb_healthy_panic"] == len(statuses)
    assert stats["cluster.backend.membership_healthy"] == 1
    # two healthy of three: out of panic, and the unhealthy one gets nothing
    b.set_health(200)
    wait_until(lambda: not failed(proxy, b), what="b to be healthy again")
    served_by_c = c.served
    statuses, errors = load(proxy.port("listen"), duration=0.5)
    assert errors == [] and set(statuses) == {200}
    assert c.served == served_by_c
    assert admin_stats(proxy.port("admin"), "^cluster.backend.lb_healthy_panic$")[
        "cluster.backend.lb_healthy_panic"] == stats["cluster.backend.lb_healthy_panic"]


def test_a_hot_restart_hands_health_state_to_the_next_epoch(proxy_factory, upstreams):
    """As on a reload, x (ejected, passing again, 1000 passes from coming back) stays out when
    epoch 1 takes over: it resumes epoch 0's host states instead of checking afresh."""
    a, b, x = upstreams(3)
    check = health_check(unhealthy_threshold=1, healthy_threshold=1000)
    proxy = proxy_factory(config([a, b, x], check), extra_args=["--concurrency", "1"])
    x.set_health(503)
    wait_until(lambda: failed(proxy, x), what="x to be ejected")
    x.set_health(200)
    served_by_x = x.served
    proxy.process.send_signal(signal.SIGUSR2)
    assert proxy.process.wait(30) == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('admin')}/server_info", timeout=10) as response:
        info = json.load(response)
    successor = psutil.Process(info["hotproxy"]["arbiter_pid"])
    try:
        assert info["command_line_options"]["restart_epoch"] == 1
        statuses, errors = load(proxy.port("listen"), duration=1.0)
        assert errors == [] and statuses and set(statuses) == {200}
        assert x.served == served_by_x
        assert failed(proxy, x) and not failed(proxy, a)
        assert [check["status"] for check in x.checks].count(200) > 1
    finally:
        successor.terminate()
        successor.wait(10)


def test_a_strict_dns_cluster_is_checked_on_the_addresses_the_arbiter_resolves(proxy_factory, upstreams):
    a, b = upstreams(2)
    b.set_health(503)
    tree = json.loads(config([a, b], health_check()).replace("{port:admin}", '"{port:admin}"')
                      .replace("{port:listen}", '"{port:listen}"'))
    cluster = tree["static_resources"]["clusters"][0]
    cluster.update(type="STRICT_DNS", dns_lookup_family="V4_ONLY", dns_refresh_rate="0.5s")
    for endpoint in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]:
        endpoint["endpoint"]["address"]["socket_address"]["address"] = "localhost"
    proxy = proxy_factory(to_yaml(tree))
    wait_until(lambda: failed(proxy, b) and a.port in clusters_json(proxy), what="b to be ejected")
    statuses, errors = load(proxy.port("listen"), duration=0.5)
    assert errors == [] and set(statuses) == {200}
    assert a.served == len(statuses) and b.served == 0
    assert len(a.checks) >= 1 and len(b.checks) >= 1


def test_a_tcp_check_sends_and_expects_its_payloads(proxy_factory, upstreams):
    """Each upstream's port also answers a line protocol on a second port: PING → PONG for the
    good one, PING → NOPE for the other, which times out unmatched and is ejected."""
    a, b = upstreams(2)
    replies = {}

    def line_server(reply):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)

        def serve():
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    if conn.recv(16) == b"PING":
                        conn.sendall(reply)
                        conn.recv(16)
        threading.Thread(target=serve, daemon=True).start()
        replies[reply] = listener
        return listener.getsockname()[1]

    good, bad = line_server(b"PONG"), line_server(b"NOPE")
    check = health_check(timeout="0.3s", http_health_check=None,
                         tcp_health_check={"send": {"text": b"PING".hex()}, "receive": [{"binary": "UE9ORw=="}]})
    check.pop("http_health_check")
    tree = json.loads(config([a, b], check).replace("{port:admin}", '"{port:admin}"')
                      .replace("{port:listen}", '"{port:listen}"'))
    endpoints = tree["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    endpoints[0]["endpoint"]["health_check_config"] = {"port_value": good}
    endpoints[1]["endpoint"]["health_check_config"] = {"port_value": bad}
    try:
        proxy = proxy_factory(to_yaml(tree))
        wait_until(lambda: failed(proxy, b), what="b to be ejected")
        assert not failed(proxy, a)
        statuses, errors = load(proxy.port("listen"), duration=0.3)
        assert errors == [] and set(statuses) == {200} and b.served == 0
    finally:
        for listener in replies.values():
            listener.close()


def test_flags_stats_balancing_and_event_log_agree_with_envoy(peer_factory, upstreams, tmp_path):
    """Run on hotproxy, then on Envoy 1.40, with one expectation: a passes, b fails with
    x-envoy-immediate-health-check-fail (excluded, so out of the panic share), c is dead."""
    a, b, c = upstreams(3)
    b.set_health(503, immediate_fail=True)
    c.kill()
    events = tmp_path / "events.log"
    if events.exists():
        events.unlink()
    peer = peer_factory(config([a, b, c], health_check(event_log_path=str(events))))
    flags = {a.port: "healthy", b.port: "/failed_active_hc/excluded_via_immediate_hc_fail",
             c.port: "/failed_active_hc"}

    def settled():
        text = clusters_text(peer)
        return all(f"backend::127.0.0.1:{port}::health_flags::{flag}\n" in text for port, flag in flags.items())
    wait_until(settled, what=f"{peer.kind}: the health flags")
    assert clusters_json(peer) == {
        a.port: {"eds_health_status": "HEALTHY"},
        b.port: {"failed_active_health_check": True, "eds_health_status": "HEALTHY",
                 "excluded_via_immediate_hc_fail": True},
        c.port: {"failed_active_health_check": True, "eds_health_status": "HEALTHY"}}
    statuses, errors = load(peer.port("listen"), duration=0.5)
    assert errors == [] and set(statuses) == {200} and a.served == len(statuses)
    stats = admin_stats(peer.port("admin"), "^cluster.backend.(health_check.healthy|membership_|lb_healthy_panic)")
    assert {name: stats[name] for name in (
        "cluster.backend.health_check.healthy", "cluster.backend.membership_healthy",
        "cluster.backend.membership_total", "cluster.backend.membership_excluded",
        "cluster.backend.lb_healthy_panic")} == {
        "cluster.backend.health_check.healthy": 1, "cluster.backend.membership_healthy": 1,
        "cluster.backend.membership_total": 3, "cluster.backend.membership_excluded": 1,
        "cluster.backend.lb_healthy_panic": 0}
    peer.stop()       # Envoy writes its event log out as it exits
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    first = {}
    for line in lines:
        first.setdefault(line["host"]["socket_address"]["port_value"], line)
    for line in first.values():
        del line["timestamp"]
    host = {"protocol": "TCP", "address": "127.0.0.1", "resolver_name": "", "ipv4_compat": False,
            "network_namespace_filepath": ""}
    common = {"health_checker_type": "HTTP", "cluster_name": "backend",
              "locality": {"region": "", "zone": "", "sub_zone": ""}}
    assert first == {
        a.port: {**common, "host": {"socket_address": {**host, "port_value": a.port}},
                 "add_healthy_event": {"first_check": True}},
        b.port: {**common, "host": {"socket_address": {**host, "port_value": b.port}},
                 "health_check_failure_event": {"failure_type": "ACTIVE", "first_check": True,
                                                "http_status_code": 503}},
        c.port: {**common, "host": {"socket_address": {**host, "port_value": c.port}},
                 "health_check_failure_event": {"failure_type": "NETWORK", "first_check": True,
                                                "http_status_code": 0}}}


def test_a_respawned_worker_starts_with_the_known_health(proxy_factory, upstreams):
    """The arbiter tells a respawned worker its hosts' health before it serves: x stays out."""
    a, x = upstreams(2)
    x.set_health(503)
    proxy = proxy_factory(config([a, x], health_check()), extra_args=["--concurrency", "1"])
    wait_until(lambda: failed(proxy, x), what="x to be ejected")
    (worker,) = workers(proxy)
    worker.kill()
    worker.wait(10)
    wait_for_log(proxy, "restarting it")
    wait_until(lambda: [w.pid for w in workers(proxy)] not in ([], [worker.pid]), what="the respawn")
    statuses, errors = [], []
    deadline = time.monotonic() + 20
    while not statuses and time.monotonic() < deadline:   # until the new worker accepts
        statuses, errors = load(proxy.port("listen"), duration=0.5)
    statuses, errors = load(proxy.port("listen"), duration=0.5)
    assert errors == [] and statuses and set(statuses) == {200}
    assert x.served == 0 and a.served >= len(statuses)
