"""Readiness-probed rollback (docs/reloads.md): a reload whose new generation fails the probe of
a listener that opted in is rolled back, and the old generation serves on without one failed
request; a good reload after it is accepted."""
import json
import signal
import subprocess
import threading
import time
import urllib.request

from certs import CA
from harness import (HOTPROXY, ROOT, RawClient, free_port, http_listener, next_base_id, post_until, refused_port,
                     reload, render, rewrite, simple_routes, static_cluster, to_yaml, wait_for_log, wait_for_port)
from test_xds_dynamic import start_proxy
from xds_configs import assignment, eds_cluster, inline_listener, route_config, serve
from xds_control import XdsServer


def probed_config(tag, health_cluster, upstream_port, probe=None, namespace="hotproxy.reload_probe", tls=None):
    """``/`` goes to the upstream, answered with an ``x-config: tag`` header; ``/healthz`` goes to
    ``health_cluster`` (``backend``: the same upstream, ``dead``: a port refusing every connection)."""
    routes = simple_routes(
        {"match": {"path": "/healthz"}, "route": {"cluster": health_cluster}},
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"},
         "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]})
    listener = http_listener("http", "listen", routes)
    if tls is not None:
        listener["filter_chains"][0]["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {"tls_certificates": [{"certificate_chain": {"filename": str(tls[0])},
                                                         "private_key": {"filename": str(tls[1])}}]}}}
    listener["metadata"] = {"filter_metadata": {namespace: probe or {
        "path": "/healthz", "expected_status": 200, "timeout": "3s"}}}
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [listener], "clusters": [
            static_cluster("backend", upstream_port), static_cluster("dead", refused_port())]}})


def server_info(proxy):
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('admin')}/server_info", timeout=10) as answer:
        return json.load(answer)["hotproxy"]


def counter(proxy, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('admin')}/stats?filter=^{name}$",
                                timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
    return None


def test_a_reload_whose_probe_fails_is_rolled_back_and_a_good_one_is_accepted(
        proxy_factory, upstream, client_factory):
    proxy = proxy_factory(probed_config("A", "backend", upstream.port), extra_args=["--concurrency", "2"])
    stop, failures, done = threading.Event(), [], [0]
    load = [threading.Thread(target=post_until, args=(proxy.port("listen"), stop, failures, done, fresh))
            for fresh in (False, True)]
    for thread in load:
        thread.start()
    try:
        rewrite(proxy, probed_config("B", "dead", upstream.port))
        proxy.process.send_signal(signal.SIGHUP)
        wait_for_log(proxy, "reload rolled back, the running configuration keeps serving")
        for _ in range(4):      # fresh connections: every worker that serves is of the old config
            assert client_factory(proxy.port("listen")).request().header("x-config") == "A"
        info = server_info(proxy)
        last = info["last_reload"]
        assert last["result"] == "rolled_back"
        assert "listener 'http': GET /healthz" in last["reason"] and "answered 503" in last["reason"]
        assert "expected 200" in last["reason"]
        assert last["report"]["routes"]["modified"] == {"local/vh": "routes"}
        assert [g["number"] for g in info["generations"]] == [1]
        assert counter(proxy, "server.reload_rolled_back") == 1
        assert counter(proxy, "server.reload_failed") == 1
        assert counter(proxy, "server.reload_total") == 0

        rewrite(proxy, probed_config("B", "backend", upstream.port))
        reload(proxy, 1)
        for _ in range(4):
            assert client_factory(proxy.port("listen")).request().header("x-config") == "B"
        last = server_info(proxy)["last_reload"]
        assert last["result"] == "ok" and last["trigger"] == "SIGHUP"
        assert counter(proxy, "server.reload_rolled_back") == 1
        assert counter(proxy, "server.reload_total") == 1
    finally:
        stop.set()
        for thread in load:
            thread.join(30)
    assert done[0] > 0
    assert failures == []
    # the probes themselves went through the new generations' routes to the upstream
    assert any(r["path"] == "/healthz" and ["user-agent", "hotproxy-reload-probe"] in r["headers"]
               for r in upstream.requests)


def test_a_probe_that_gets_no_answer_in_time_rolls_back_and_no_client_meets_the_new_generation(
        proxy_factory, upstream):
    """A probe route to an upstream that answers too late: the probe's timeout ends it. While the
    new generation is probed, clients on fresh connections keep meeting the old one only."""
    proxy = proxy_factory(probed_config("A", "backend", upstream.port), extra_args=["--concurrency", "2"])
    stop, seen, errors = threading.Event(), [], []

    def fresh_connections():
        while not stop.is_set():
            try:
                seen.append(RawClient(proxy.port("listen")).request().header("x-config"))
            except (OSError, EOFError) as error:
                errors.append(repr(error))

    client = threading.Thread(target=fresh_connections)
    client.start()
    try:
        probe = {"path": "/sleep/3000", "timeout": "1.5s"}
        rewrite(proxy, probed_config("B", "backend", upstream.port, probe=probe).replace(
            '"path": "/healthz"', '"prefix": "/sleep"'))
        proxy.process.send_signal(signal.SIGHUP)
        wait_for_log(proxy, "reload rolled back")
    finally:
        stop.set()
        client.join(30)
    assert "no answer within 1.5s" in server_info(proxy)["last_reload"]["reason"]
    assert errors == [] and len(seen) > 0
    assert set(seen) == {"A"}
    assert RawClient(proxy.port("listen")).request().header("x-config") == "A"


def test_a_listener_without_the_opt_in_is_not_probed(proxy_factory, upstream, client_factory):
    proxy = proxy_factory(probed_config("A", "backend", upstream.port), extra_args=["--concurrency", "1"])
    rewrite(proxy, probed_config("B", "dead", upstream.port, namespace="other.namespace"))
    reload(proxy, 1)
    assert client_factory(proxy.port("listen")).request().header("x-config") == "B"
    assert server_info(proxy)["last_reload"]["result"] == "ok"


def test_probe_settings_are_checked_with_their_field_path(tmp_path):
    config = probed_config("A", "backend", 1, probe={"path": "healthz", "expected_status": {"start": 300,
                                                                                          "end": 200}})
    path = tmp_path / "bad.yaml"
    path.write_text(config.replace("{port:admin}", "0").replace("{port:listen}", "0"))
    result = subprocess.run(HOTPROXY + ["--mode", "validate", "-c", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    at = "static_resources.listeners[0].metadata.filter_metadata.hotproxy.reload_probe"
    assert f"{at}.path: must start with '/'" in result.stderr
    assert f"{at}.expected_status: end (200) must be greater than start (300)" in result.stderr


def test_a_tls_listener_is_probed_over_tls(proxy_factory, upstream, tmp_path):
    paths = CA().issue("proxy", dns=["proxy.test"]).write(tmp_path, "proxy")
    proxy = proxy_factory(probed_config("A", "backend", upstream.port, tls=paths), extra_args=["--concurrency", "1"])
    rewrite(proxy, probed_config("B", "dead", upstream.port, tls=paths))
    proxy.process.send_signal(signal.SIGHUP)
    wait_for_log(proxy, "reload rolled back")
    assert "answered 503" in server_info(proxy)["last_reload"]["reason"]
    rewrite(proxy, probed_config("B", "backend", upstream.port, tls=paths))
    reload(proxy, 1)
    assert server_info(proxy)["last_reload"]["result"] == "ok"


def test_an_xds_reload_goes_through_the_report_and_the_probe(proxy_factory, upstream, tmp_path):
    def web(port, health_cluster, tag):
        routes = route_config("routes", "svc", extra_routes=[{"match": {"path": "/healthz"},
                                                              "route": {"cluster": health_cluster}}])
        routes["response_headers_to_add"] = [{"header": {"key": "x-config", "value": tag}}]
        listener = inline_listener("web", port, routes)
        listener["metadata"] = {"filter_metadata": {"hotproxy.reload_probe": {"path": "/healthz"}}}
        return listener

    with XdsServer.start(tmp_path / "xds") as xds:
        port = free_port()
        serve(xds, listeners=[web(port, "svc", "A")], endpoints=[assignment("svc", upstream.port)],
              clusters=[eds_cluster("svc"), static_cluster("dead", refused_port())])
        proxy = start_proxy(proxy_factory, xds, concurrency=1)
        wait_for_port(port, process=proxy.process)
        assert RawClient(port).request().header("x-config") == "A"

        xds.set("listeners", [web(port, "dead", "B")])
        wait_for_log(proxy, "reload rolled back")
        last = server_info(proxy)["last_reload"]
        assert last["result"] == "rolled_back" and last["trigger"] == "xds"
        assert "listener 'web': GET /healthz" in last["reason"]
        assert last["report"]["routes"]["modified"] == {"routes": "response_headers_to_add", "routes/all": "routes"}
        assert RawClient(port).request().header("x-config") == "A"

        xds.set("listeners", [web(port, "svc", "B")])
        wait_for_log(proxy, "serving (")
        assert server_info(proxy)["last_reload"]["result"] == "ok"
        assert RawClient(port).request().header("x-config") == "B"


def wait_for_log_file(path, needle, process, timeout=30):
    deadline = time.monotonic() + timeout
    while needle not in path.read_text(errors="replace"):
        assert process.poll() is None and time.monotonic() < deadline, path.read_text(errors="replace")
        time.sleep(0.05)


def test_a_hot_restart_whose_probe_fails_leaves_the_previous_epoch_serving(upstream, tmp_path):
    text, ports = render(probed_config("A", "backend", upstream.port), {})
    config_path = tmp_path / "hotproxy.yaml"
    config_path.write_text(text)
    base_id = next_base_id()
    logs, processes = [], []

    def start(epoch):
        logs.append(open(tmp_path / f"epoch{epoch}.log", "wb"))
        processes.append(subprocess.Popen(
            HOTPROXY + ["-c", str(config_path), "--concurrency", "1", "--base-id", str(base_id),
                        "--restart-epoch", str(epoch)], cwd=ROOT, stdout=logs[-1], stderr=subprocess.STDOUT))
        return processes[-1]

    try:
        first = start(0)
        wait_for_log_file(tmp_path / "epoch0.log", "] serving: ", first)
        config_path.write_text(render(probed_config("B", "dead", upstream.port), ports)[0])
        second = start(1)
        assert second.wait(60) == 1
        assert "failed its reload probe: listener 'http': GET /healthz" in (tmp_path / "epoch1.log").read_text()
        assert first.poll() is None
        assert RawClient(ports["listen"]).request().header("x-config") == "A"
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['admin']}/server_info", timeout=10) as answer:
            assert json.load(answer)["hotproxy"]["arbiter_pid"] == first.pid
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(10)
        for log in logs:
            log.close()
