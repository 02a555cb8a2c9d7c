"""Stats and the admin interface through real processes: totals across workers, reloads and a
worker SIGKILL; Prometheus output; every endpoint; POST-only mutations; the health_check filter."""
import http.client
import json
import signal
import socket
import time

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import http_listener, reload, simple_routes, static_cluster, to_yaml, workers

HEALTH_CHECK = {"name": "envoy.filters.http.health_check",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck",
                                 "pass_through_mode": False,
                                 "headers": [{"name": ":path", "string_match": {"exact": "/healthz"}}]}}
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
MUTATING = ("/healthcheck/fail", "/healthcheck/ok", "/drain_listeners", "/reset_counters",
            "/runtime_modify", "/quitquitquit", "/logging")


def admin_config(upstream_port, body_tag="one", admin_log=None):
    routes = simple_routes(
        {"match": {"prefix": "/direct"}, "direct_response": {"status": 200, "body": {"inline_string": body_tag}}},
        {"match": {"prefix": "/dead"}, "route": {"cluster": "dead"}},
        {"match": {"prefix": "/status"}, "route": {"cluster": "backend"}})
    listener = http_listener("http", "listen", routes, {"http_filters": [HEALTH_CHECK, ROUTER]})
    tcp = {"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen_tcp}"}},
           "traffic_direction": "INBOUND",
           "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
               "stat_prefix": "tcp_in", "cluster": "backend"}}]}]}
    config = {"node": {"id": "n1", "cluster": "svc"},
              "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}},
                        **({"access_log_path": admin_log} if admin_log else {})},
              "static_resources": {"listeners": [listener, tcp],
                                   "clusters": [static_cluster("backend", upstream_port), static_cluster("dead", 1)]}}
    return to_yaml(config)


class Admin:
    def __init__(self, proxy):
        self.port = proxy.port("admin")

    def call(self, path, method="GET"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.getheader("content-type"), response.read().decode()
        finally:
            conn.close()

    def get(self, path):
        status, _type, body = self.call(path)
        assert status == 200, (path, status, body)
        return body

    def post(self, path):
        status, _type, body = self.call(path, "POST")
        assert status == 200, (path, status, body)
        return body

    def stats(self):
        return {entry["name"]: entry["value"]
                for entry in json.loads(self.get("/stats?format=json"))["stats"] if "name" in entry}


def request(port, path, keep=None):
    """(status, headers dict, body) of one GET on a fresh connection (or on ``keep``)."""
    conn = keep or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    if keep is None:
        conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def send_mix(port, n):
    """n requests of each class: 2xx and 4xx and 5xx from the upstream, 503 (UF) and a local 404."""
    for _ in range(n):
        assert request(port, "/status/200")[0] == 200
        assert request(port, "/status/404")[0] == 404
        assert request(port, "/status/500")[0] == 500
        assert request(port, "/dead")[0] == 503
        assert request(port, "/nothing-routes-here")[0] == 404


@pytest.fixture
def started(proxy_factory, upstream):
    def start(extra_args=("--concurrency", "2"), admin_log=None):
        proxy = proxy_factory(admin_config(upstream.port, admin_log=admin_log), extra_args=list(extra_args))
        return proxy, Admin(proxy)
    return start


def expect_mix(stats, n):
    assert stats["http.ingress_http.downstream_rq_total"] == 5 * n
    assert stats["http.ingress_http.downstream_rq_2xx"] == n
    assert stats["http.ingress_http.downstream_rq_4xx"] == 2 * n
    assert stats["http.ingress_http.downstream_rq_5xx"] == 2 * n
    assert stats["http.ingress_http.no_route"] == n
    assert stats["cluster.backend.upstream_rq_total"] == 3 * n
    assert stats["cluster.backend.upstream_rq_2xx"] == n
    assert stats["cluster.backend.upstream_rq_4xx"] == n
    assert stats["cluster.backend.upstream_rq_5xx"] == n
    assert stats["cluster.dead.upstream_rq_total"] == 0     # never connected: Envoy counts none
    assert stats["cluster.dead.upstream_rq_5xx"] == n
    assert stats["cluster.dead.upstream_cx_connect_fail"] == n


def test_counts_match_the_requests_across_a_reload_and_a_worker_sigkill(started):
    proxy, admin = started()
    port = proxy.port("listen")
    accepted = admin.stats()[f"listener.127.0.0.1_{port}.downstream_cx_total"]  # the harness's probe
    send_mix(port, 4)
    stats = admin.stats()
    expect_mix(stats, 4)
    assert stats[f"listener.127.0.0.1_{port}.downstream_cx_total"] == accepted + 20
    assert stats["server.concurrency"] == 2 and stats["server.live"] == 1

    reload(proxy, 1)
    send_mix(port, 3)
    stats = admin.stats()
    expect_mix(stats, 7)
    assert stats["server.reload_total"] == 1

    # A worker killed outright: what it had shipped stays counted, and nothing it reported as
    # a level (its connections) stays behind it.
    victim = workers(proxy)[0]
    victim.kill()
    deadline = time.monotonic() + 20
    while admin.stats()["worker.respawned"] < 1 or len(workers(proxy)) < 2:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.1)
    send_mix(port, 2)
    stats = admin.stats()
    expect_mix(stats, 9)
    # the client closes each connection as it reads the response: the worker sees the last close a
    # moment later, so the levels are read until they settle (a killed worker's would never)
    levels = ("http.ingress_http.downstream_cx_active", f"listener.127.0.0.1_{port}.downstream_cx_active",
              "server.total_connections")
    deadline = time.monotonic() + 5
    while any(stats[name] for name in levels) and time.monotonic() < deadline:
        time.sleep(0.1)
        stats = admin.stats()
    assert [stats[name] for name in levels] == [0, 0, 0]


def test_gauges_follow_open_connections_and_histograms_fill(started):
    proxy, admin = started()
    port = proxy.port("listen")
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(3)]
    for conn in conns:
        request(port, "/status/200", keep=conn)
    stats = admin.stats()
    assert stats["http.ingress_http.downstream_cx_active"] == 3
    assert stats["server.total_connections"] == 3
    for conn in conns:
        conn.close()
    deadline = time.monotonic() + 5
    while admin.stats()["http.ingress_http.downstream_cx_active"] != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    text = admin.get("/stats?filter=rq_time")
    lines = dict(line.split(": ", 1) for line in text.splitlines())
    assert lines["cluster.backend.upstream_rq_time"].startswith("P0(")
    assert "P99.9(" in lines["http.ingress_http.downstream_rq_time"]
    assert "cluster.dead.upstream_rq_time" not in lines     # as in Envoy: created with its first value


def test_prometheus_output_parses_with_envoys_labels(started):
    proxy, admin = started()
    send_mix(proxy.port("listen"), 2)
    status, content_type, text = admin.call("/stats/prometheus")
    assert status == 200 and content_type.startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in families.values() for s in family.samples}
    assert samples[("envoy_cluster_upstream_rq_xx_total",
                    (("envoy_cluster_name", "backend"), ("envoy_response_code_class", "2")))] == 2
    assert samples[("envoy_http_downstream_rq_xx_total",
                    (("envoy_http_conn_manager_prefix", "ingress_http"), ("envoy_response_code_class", "5")))] == 4
    assert samples[("envoy_server_live", ())] == 1
    assert families["envoy_cluster_upstream_rq_time"].type == "histogram"
    assert samples[("envoy_cluster_upstream_rq_time_count", (("envoy_cluster_name", "backend"),))] == 6
    assert ("envoy_tcp_downstream_cx_total_total" in {s[0] for s in samples}
            or "envoy_tcp_downstream_cx_total" in {s[0] for s in samples})


def test_read_only_endpoints_answer_as_envoys_do(started, upstream):
    proxy, admin = started()
    port = proxy.port("listen")
    send_mix(port, 1)
    assert admin.get("/ready") == "LIVE\n"
    help_text = admin.get("/help")
    assert help_text.startswith("admin commands are:\n") and "  /quitquitquit (POST): " in help_text

    info = json.loads(admin.get("/server_info"))
    assert info["state"] == "LIVE" and info["hot_restart_version"] == admin.get("/hot_restart_version")
    assert info["command_line_options"]["concurrency"] == 2
    assert info["uptime_current_epoch"].endswith("s")
    assert [g["number"] for g in info["hotproxy"]["generations"]] == [1]
    assert info["hotproxy"]["last_reload"] == {"result": "none"}
    assert info["node"] == {"id": "n1", "cluster": "svc"}

    clusters = admin.get("/clusters")
    host = f"backend::127.0.0.1:{upstream.port}::"
    assert f"{host}rq_total::3\n" in clusters and f"{host}rq_success::2\n" in clusters
    assert f"{host}rq_error::1\n" in clusters and f"{host}health_flags::healthy\n" in clusters
    assert "dead::127.0.0.1:1::cx_connect_fail::1\n" in clusters
    cluster_json = json.loads(admin.get("/clusters?format=json"))
    assert {c["name"] for c in cluster_json["cluster_statuses"]} == {"backend", "dead"}

    assert admin.get("/listeners") == (f"http::127.0.0.1:{port}\n"
                                       f"tcp::127.0.0.1:{proxy.port('listen_tcp')}\n")
    listeners = json.loads(admin.get("/listeners?format=json"))["listener_statuses"]
    assert listeners[0]["local_address"]["socket_address"] == {"address": "127.0.0.1", "port_value": port}

    dump = json.loads(admin.get("/config_dump"))
    types = [config["@type"].rsplit(".", 1)[1] for config in dump["configs"]]
    assert types == ["BootstrapConfigDump", "ClustersConfigDump", "ListenersConfigDump",
                     "ScopedRoutesConfigDump", "RoutesConfigDump", "SecretsConfigDump"]
    assert dump["configs"][0]["bootstrap"]["node"]["id"] == "n1"
    assert [c["cluster"]["name"] for c in dump["configs"][1]["static_clusters"]] == ["backend", "dead"]

    memory = json.loads(admin.get("/memory"))
    roles = sorted(p["role"] for p in memory["processes"])
    assert roles == ["arbiter", "flusher", "worker", "worker"]
    assert memory["generations"][0]["workers"] == 2 and memory["generations"][0]["rss_bytes"] > 0
    assert int(memory["allocated"]) > 0

    stats = admin.stats()
    assert stats["server.generation.1.workers"] == 2 and stats["server.generation.1.open_fds"] > 0
    assert "access_log.dropped" in stats

    status, content_type, _ = admin.call("/stats?format=json")
    assert content_type == "application/json"
    assert admin.call("/stats?filter=(")[0] == 400
    assert admin.call("/stats?format=bogus")[0] == 400


def test_stats_filter_usedonly_and_type(started):
    proxy, admin = started()
    request(proxy.port("listen"), "/status/200")
    used = admin.get("/stats?usedonly")
    assert "cluster.backend.upstream_rq_2xx: 1\n" in used
    assert "cluster.backend.upstream_rq_5xx" not in used
    filtered = admin.get("/stats?filter=^cluster\\.backend\\.upstream_rq_2xx$")
    assert filtered == "cluster.backend.upstream_rq_2xx: 1\n"
    assert "server.live" not in admin.get("/stats?type=Counters")


def test_mutating_endpoints_refuse_get_and_unknown_paths_get_404(started):
    proxy, admin = started()
    for path in MUTATING:
        assert admin.call(path) == (405, "text/plain; charset=UTF-8", "Method GET not allowed, POST required.")
    status, _type, body = admin.call("/nope")
    assert status == 404 and body.startswith("invalid path. admin commands are:\n")
    assert proxy.process.poll() is None  # the GET to /quitquitquit did nothing
    assert admin.get("/ready") == "LIVE\n"


def test_runtime_logging_and_reset_counters(started):
    proxy, admin = started()
    # no layered_runtime: as Envoy, no layer at all (test_runtime_layers_live.py has the layers)
    assert json.loads(admin.get("/runtime")) == {"layers": [], "entries": {}}
    assert admin.call("/runtime_modify?feature.x=on", "POST")[::2] == (503, "No admin layer specified")
    assert admin.call("/runtime_modify", "POST")[0] == 400

    levels = admin.post("/logging?http=debug")
    assert "  http: debug\n" in levels
    assert admin.call("/logging?http=loud", "POST")[0] == 404

    request(proxy.port("listen"), "/status/200")
    assert admin.stats()["cluster.backend.upstream_rq_2xx"] == 1
    assert admin.post("/reset_counters") == "OK\n"
    stats = admin.stats()
    assert stats["cluster.backend.upstream_rq_2xx"] == 0
    assert stats["cluster.backend.membership_total"] == 1  # gauges stay
    request(proxy.port("listen"), "/status/200")
    assert admin.stats()["cluster.backend.upstream_rq_2xx"] == 1


def test_healthcheck_fail_and_ok_drive_the_health_check_filter(started):
    proxy, admin = started()
    port = proxy.port("listen")
    status, headers, body = request(port, "/healthz")
    assert (status, body) == (200, b"")
    assert headers["x-envoy-upstream-healthchecked-cluster"] == "svc"
    assert "x-envoy-immediate-health-check-fail" not in headers

    assert admin.post("/healthcheck/fail") == "OK\n"
    assert admin.call("/ready") == (503, "text/plain; charset=UTF-8", "DRAINING\n")
    status, headers, _ = request(port, "/healthz")
    assert status == 503
    assert headers["x-envoy-immediate-health-check-fail"] == "true"
    assert headers["connection"] == "close"
    status, headers, _ = request(port, "/status/200")   # proxied: served, but drained away
    assert status == 200 and headers["connection"] == "close"
    assert headers["x-envoy-immediate-health-check-fail"] == "true"
    assert admin.stats()["server.state"] == 1

    assert admin.post("/healthcheck/ok") == "OK\n"
    assert admin.get("/ready") == "LIVE\n"
    status, headers, _ = request(port, "/healthz")
    assert status == 200 and "connection" not in headers
    stats = admin.stats()
    assert (stats["http.ingress_http.health_check.request_total"],
            stats["http.ingress_http.health_check.ok"],
            stats["http.ingress_http.health_check.failed"]) == (3, 2, 1)


def test_healthcheck_state_reaches_workers_started_later(started):
    proxy, admin = started()
    admin.post("/healthcheck/fail")
    reload(proxy, 1)
    for _ in range(4):
        assert request(proxy.port("listen"), "/healthz")[0] == 503


def test_drain_listeners_refuses_new_connections_and_keeps_open_ones(started):
    proxy, admin = started()
    port = proxy.port("listen")
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert request(port, "/direct", keep=kept)[0] == 200
    assert admin.post("/drain_listeners") == "OK\n"
    assert refused(port), "the drained listener still accepts"
    status, headers, _ = request(port, "/direct", keep=kept)
    assert status == 200 and "connection" not in headers
    assert admin.get("/ready") == "LIVE\n"
    kept.close()


def refused(port, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.05)
    return False


def test_drain_listeners_inboundonly_drains_only_inbound_listeners(started):
    proxy, admin = started()
    assert admin.post("/drain_listeners?inboundonly") == "OK\n"
    assert refused(proxy.port("listen_tcp")), "the INBOUND tcp listener still accepts"
    assert request(proxy.port("listen"), "/direct")[0] == 200


def test_quitquitquit_stops_the_server(started):
    proxy, admin = started()
    assert admin.post("/quitquitquit") == "OK\n"
    assert proxy.process.wait(10) == 0


def test_admin_binds_only_where_the_config_says(started):
    proxy, admin = started()
    listening = {c.laddr for c in psutil.Process(proxy.process.pid).net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {("127.0.0.1", proxy.port("admin")), ("127.0.0.1", proxy.port("listen")),
                         ("127.0.0.1", proxy.port("listen_tcp"))}
    worker = workers(proxy)[0]
    assert all(c.laddr[1] != proxy.port("admin") for c in worker.net_connections("tcp")), \
        "a worker inherited the admin socket"


def test_admin_answers_while_a_reload_runs(started):
    """An admin read while a reload is running still answers, from the serving generation."""
    proxy, admin = started()
    proxy.process.send_signal(signal.SIGHUP)
    assert admin.get("/ready") == "LIVE\n"
    assert "server.reload_total" in admin.stats()


def test_admin_requests_are_access_logged_in_envoys_default_format(started, tmp_path):
    log_path = tmp_path / "admin-access.log"
    proxy, admin = started(admin_log=str(log_path))
    admin.get("/ready")
    admin.get("/stats?usedonly")
    admin.call("/nope")
    deadline = time.monotonic() + 5
    while len(log_path.read_text().splitlines() if log_path.exists() else []) < 3:
        assert time.monotonic() < deadline, "admin requests were not logged"
        time.sleep(0.05)
    lines = log_path.read_text().splitlines()
    assert '"GET /ready HTTP/1.1" 200' in lines[0]
    assert '"GET /stats?usedonly HTTP/1.1" 200' in lines[1]
    assert '"GET /nope HTTP/1.1" 404' in lines[2]
