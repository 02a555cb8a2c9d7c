"""Readiness-probed rollback (docs/reloads.md): a reload whose new generation fails the probe of
a listener that opted in is rolled back, and the old generation serves on without one failed
request; a good reload after it is accepted."""
import json
import signal
import threading
import urllib.request

from harness import (HOTPROXY, ROOT, http_listener, post_until, refused_port, reload, rewrite,
                     simple_routes, static_cluster, to_yaml, wait_for_log)

import subprocess


def probed_config(tag, health_cluster, upstream_port, probe=None, namespace="hotproxy.reload_probe"):
    """``/`` goes to the upstream, answered with an ``x-config: tag`` header; ``/healthz`` goes to
    ``health_cluster`` (``backend``: the same upstream, ``dead``: a port refusing every connection)."""
    routes = simple_routes(
        {"match": {"path": "/healthz"}, "route": {"cluster": health_cluster}},
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"},
         "response_headers_to_add": [{"header": {"key": "x-config", "value": tag}}]})
    listener = http_listener("http", "listen", routes)
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


def test_a_probe_that_gets_no_answer_in_time_rolls_back(proxy_factory, upstream, client_factory):
    """A route to an upstream that accepts and never answers: the probe's timeout ends it."""
    proxy = proxy_factory(probed_config("A", "backend", upstream.port), extra_args=["--concurrency", "1"])
    probe = {"path": "/sleep/3000", "timeout": "0.5s"}
    rewrite(proxy, probed_config("B", "backend", upstream.port, probe=probe).replace(
        '"path": "/healthz"', '"prefix": "/sleep"'))
    proxy.process.send_signal(signal.SIGHUP)
    wait_for_log(proxy, "reload rolled back")
    assert "no answer within 0.5s" in server_info(proxy)["last_reload"]["reason"]
    assert client_factory(proxy.port("listen")).request().header("x-config") == "A"


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
