"""hotproxy as a data plane under a control plane: the test xDS management server
(xds_control.py) drives a real hotproxy over ADS, state of the world and delta."""
from __future__ import annotations

import threading
import time

import pytest

from harness import RawClient, admin_counter, free_port, post_until, to_yaml, wait_for_log, wait_for_port
from xds_configs import ads_bootstrap, assignment, eds_cluster, rds_listener, route_config, serve
from xds_control import XdsServer

NODE = "data-plane"


@pytest.fixture
def xds(tmp_path):
    with XdsServer.start(tmp_path / "xds") as server:
        yield server


def serve_web(xds, port, upstream_port):
    """The control plane's usual state here: listener "web" on ``port`` with RDS routes to the
    EDS cluster "svc" of one host."""
    serve(xds, listeners=[rds_listener("web", port, "routes")], clusters=[eds_cluster("svc")],
          endpoints=[assignment("svc", upstream_port)], routes=[route_config("routes", "svc")])


def start_proxy(proxy_factory, xds, api_type="GRPC", concurrency=2):
    admin = free_port()
    text = to_yaml(ads_bootstrap(xds.grpc_port, admin, NODE, api_type))
    proxy = proxy_factory(text, listeners=[], extra_args=["--concurrency", str(concurrency)])
    proxy.ports["admin"] = admin
    return proxy


def wait_until(condition, timeout=10.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen in {timeout} s")


def answers(port, path="/echo"):
    try:
        return RawClient(port, timeout=2).request("GET", path).status
    except OSError:
        return None


@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
def test_a_bootstrap_of_nothing_but_a_control_plane_serves(proxy_factory, upstream, xds, api_type):
    port = free_port()
    serve_web(xds, port, upstream.port)
    proxy = start_proxy(proxy_factory, xds, api_type)
    wait_for_port(port, process=proxy.process)
    assert RawClient(port).request("GET", "/echo").status == 200
    assert upstream.requests[-1]["path"] == "/echo"
    for kind in ("listeners", "clusters", "endpoints", "routes"):
        xds.wait_for_ack(kind, xds.version(kind), node=NODE)
    admin = proxy.ports["admin"]
    assert admin_counter(admin, "listener_manager.lds.update_success") >= 1
    assert admin_counter(admin, "cluster_manager.cds.update_success") >= 1
    assert admin_counter(admin, "control_plane.connected_state") == 1


def test_a_refused_resource_is_nacked_by_name_and_the_last_config_serves(proxy_factory, upstream, xds):
    port = free_port()
    serve_web(xds, port, upstream.port)
    proxy = start_proxy(proxy_factory, xds)
    wait_for_port(port, process=proxy.process)
    good = xds.version("clusters")
    xds.set("clusters", [eds_cluster("svc", extra={"lb_subset_config": {"fallback_policy": "ANY_ENDPOINT"}})])
    error = xds.wait_for_nack("clusters", node=NODE)
    assert error == "cluster 'svc': lb_subset_config: not supported by hotproxy yet"
    rejected = xds.requests("clusters", flag="nack", node=NODE)[-1]
    assert rejected["version_info"] == good      # a NACK names the version still in use
    assert RawClient(port).request("GET", "/echo").status == 200
    assert admin_counter(proxy.ports["admin"], "cluster_manager.cds.update_rejected") == 1


def test_an_eds_update_under_load_fails_no_request(proxy_factory, upstream, xds):
    from harness import Upstream
    second = Upstream()
    try:
        port = free_port()
        serve_web(xds, port, upstream.port)
        proxy = start_proxy(proxy_factory, xds)
        wait_for_port(port, process=proxy.process)
        stop, failures, done = threading.Event(), [], [0]
        clients = [threading.Thread(target=post_until, args=(port, stop, failures, done))
                   for _ in range(4)]
        for client in clients:
            client.start()
        generations = proxy.log().count("serving (")
        for ports in ([upstream.port, second.port], [second.port], [upstream.port], [second.port]):
            xds.set("endpoints", [assignment("svc", *ports)])
            xds.wait_for_ack("endpoints", xds.version("endpoints"), node=NODE)
            time.sleep(0.3)
        wait_until(lambda: len(second.requests) > 0, what="the new endpoint taking requests")
        served_before = len(upstream.requests)
        time.sleep(0.5)
        stop.set()
        for client in clients:
            client.join()
        assert failures == [] and done[0] > 50
        assert len(upstream.requests) - served_before <= 4      # removed: at most in-flight ones
        assert proxy.log().count("serving (") == generations      # in place: no new generation
    finally:
        second.stop()


def test_listeners_and_clusters_change_under_load_with_no_failed_request(proxy_factory, upstream, xds):
    port, extra_port = free_port(), free_port()
    serve_web(xds, port, upstream.port)
    proxy = start_proxy(proxy_factory, xds)
    wait_for_port(port, process=proxy.process)
    stop, failures, done = threading.Event(), [], [0]
    idle = [RawClient(port) for _ in range(4)]                  # idle keep-alive, never retrying
    for client in idle:
        assert client.request("GET", "/echo").status == 200
    busy = [threading.Thread(target=post_until, args=(port, stop, failures, done)) for _ in range(3)]
    for client in busy:
        client.start()
    # add a listener and a cluster, change the cluster, then remove both
    xds.set("clusters", [eds_cluster("svc"), eds_cluster("other")])
    xds.set("endpoints", [assignment("svc", upstream.port), assignment("other", upstream.port)])
    xds.set("routes", [route_config("routes", "svc"), route_config("other-routes", "other")])
    xds.set("listeners", [rds_listener("web", port, "routes"), rds_listener("extra", extra_port, "other-routes")])
    wait_for_port(extra_port, process=proxy.process)
    assert RawClient(extra_port).request("GET", "/echo").status == 200
    xds.set("clusters", [eds_cluster("svc", extra={"connect_timeout": "2s"}), eds_cluster("other")])
    xds.wait_for_ack("clusters", xds.version("clusters"), node=NODE)
    xds.set("listeners", [rds_listener("web", port, "routes")])
    xds.set("clusters", [eds_cluster("svc")])
    xds.wait_for_ack("listeners", xds.version("listeners"), node=NODE)
    wait_until(lambda: answers(extra_port) is None, what="the removed listener closing")
    for client in idle:                                         # each moved through the reloads
        assert client.request("GET", "/echo").status == 200
    stop.set()
    for client in busy:
        client.join()
    assert failures == [] and done[0] > 20
    assert proxy.log().count("serving (") >= 3


def test_the_last_config_serves_while_the_control_plane_is_away(proxy_factory, upstream, xds):
    port = free_port()
    serve_web(xds, port, upstream.port)
    proxy = start_proxy(proxy_factory, xds)
    wait_for_port(port, process=proxy.process)
    xds.kill()
    wait_until(lambda: admin_counter(proxy.ports["admin"], "control_plane.connected_state") == 0,
               what="the stream going down")
    for _ in range(5):
        assert RawClient(port).request("GET", "/echo").status == 200
    xds.restart()
    wait_until(lambda: admin_counter(proxy.ports["admin"], "control_plane.connected_state") == 1,
               timeout=20, what="the stream coming back")
    xds.set("routes", [route_config("routes", "svc", extra_routes=[
        {"match": {"prefix": "/new"}, "direct_response": {"status": 204}}])])
    xds.wait_for_ack("routes", xds.version("routes"), node=NODE)
    wait_until(lambda: answers(port, "/new") == 204, what="the new route serving")


def test_a_killed_xds_process_is_respawned_and_keeps_the_config(proxy_factory, upstream, xds):
    import psutil
    port = free_port()
    serve_web(xds, port, upstream.port)
    proxy = start_proxy(proxy_factory, xds)
    wait_for_port(port, process=proxy.process)
    (child,) = [c for c in psutil.Process(proxy.process.pid).children()
                if c.cmdline()[:1] == ["hotproxy: xds"]]
    generations = proxy.log().count("serving (")
    child.kill()
    wait_for_log(proxy, "started hotproxy: xds", count=2)
    assert RawClient(port).request("GET", "/echo").status == 200
    time.sleep(1.0)
    assert proxy.log().count("serving (") == generations      # the seed matched: nothing reloaded


def test_a_listener_whose_routes_never_come_serves_404s_after_the_fetch_timeout(proxy_factory, xds):
    port = free_port()
    listener = rds_listener("web", port, "missing", source={"ads": {}, "initial_fetch_timeout": "1s"})
    serve(xds, listeners=[listener], clusters=[], routes=[])
    proxy = start_proxy(proxy_factory, xds)
    wait_for_port(port, process=proxy.process)
    response = RawClient(port).request("GET", "/")
    assert response.status == 404
    assert "initial fetch of routes 'missing' timed out" in proxy.log()
