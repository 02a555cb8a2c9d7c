"""Dynamic resources from files replaced by a move, and from a REST control plane polled."""
from __future__ import annotations

import json
import os
import threading

import pytest

from harness import RawClient, admin_counter, free_port, post_until, static_cluster, to_yaml, wait_for_port
from test_xds_dynamic import wait_until
from xds_configs import assignment, eds_cluster, inline_listener, rds_listener, route_config, serve
from xds_control import XdsServer

TYPES = {"listeners": "type.googleapis.com/envoy.config.listener.v3.Listener",
         "clusters": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
         "endpoints": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
         "routes": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"}


def write_by_move(directory, kind, version, resources):
    """Envoy's rule for file sources: a new file moved over the old one."""
    staged = directory / f".{kind}.tmp"
    staged.write_text(json.dumps({"version_info": version, "resources": [
        {"@type": TYPES[kind], **resource} for resource in resources]}))
    os.replace(staged, directory / f"{kind}.json")


def file_source(directory, kind):
    return {"path_config_source": {"path": str(directory / f"{kind}.json"),
                                   "watched_directory": {"path": str(directory)}}}


def static_cluster_with(name, *ports):
    cluster = static_cluster(name, ports[0])
    cluster["load_assignment"] = assignment(name, *ports)
    return cluster


def test_file_based_listeners_and_clusters_are_picked_up_by_a_move(proxy_factory, upstream, tmp_path):
    directory = tmp_path / "xds-files"
    directory.mkdir()
    port, second_port = free_port(), free_port()
    listener = inline_listener("web", port, route_config("local", "svc"))
    # a field of a newer control plane: a warning and a count, not a rejection (Envoy's default)
    write_by_move(directory, "clusters", "1", [{**static_cluster_with("svc", upstream.port),
                                                "field_from_the_future": {"x": 1}}])
    write_by_move(directory, "listeners", "1", [listener])
    admin = free_port()
    bootstrap = {"node": {"id": "files", "cluster": "test"},
                 "dynamic_resources": {"lds_config": file_source(directory, "listeners"),
                                       "cds_config": file_source(directory, "clusters")},
                 "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}}}
    proxy = proxy_factory(to_yaml(bootstrap), listeners=[])
    wait_for_port(port, process=proxy.process)
    assert admin_counter(admin, "server.dynamic_unknown_fields") == 1
    stop, failures, done = threading.Event(), [], [0]
    clients = [threading.Thread(target=post_until, args=(port, stop, failures, done)) for _ in range(3)]
    for client in clients:
        client.start()
    second = inline_listener("second", second_port, route_config("local", "svc"))
    write_by_move(directory, "listeners", "2", [listener, second])
    wait_for_port(second_port, process=proxy.process)
    assert RawClient(second_port).request("GET", "/echo").status == 200
    write_by_move(directory, "listeners", "3", [listener])
    wait_until(lambda: _refused(second_port), what="the removed listener closing")
    stop.set()
    for client in clients:
        client.join()
    assert failures == [] and done[0] > 10


def _refused(port):
    try:
        RawClient(port, timeout=1).request("GET", "/")
    except OSError:
        return True
    return False


@pytest.fixture
def xds(tmp_path):
    with XdsServer.start(tmp_path / "xds") as server:
        yield server


def test_a_rest_control_plane_is_polled(proxy_factory, upstream, xds):
    port = free_port()
    rest = {"api_config_source": {"api_type": "REST", "transport_api_version": "V3",
                                  "cluster_names": ["xds"], "refresh_delay": "0.2s"},
            "resource_api_version": "V3"}
    serve(xds, listeners=[rds_listener("web", port, "routes", source=rest)],
          clusters=[eds_cluster("svc", source=rest)], endpoints=[assignment("svc", upstream.port)],
          routes=[route_config("routes", "svc")])
    admin = free_port()
    bootstrap = {"node": {"id": "rest", "cluster": "test"},
                 "dynamic_resources": {"lds_config": rest, "cds_config": rest},
                 "static_resources": {"clusters": [static_cluster("xds", xds.control_port)]},
                 "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}}}
    proxy = proxy_factory(to_yaml(bootstrap), listeners=[])
    wait_for_port(port, process=proxy.process)
    assert RawClient(port).request("GET", "/echo").status == 200
    xds.set("routes", [route_config("routes", "svc", extra_routes=[
        {"match": {"prefix": "/rest"}, "direct_response": {"status": 202}}])])
    wait_until(lambda: RawClient(port).request("GET", "/rest").status == 202,
               what="the polled route change serving")
    assert xds.requests("routes", kind="rest", node="rest")


def test_static_eds_clusters_each_follow_their_own_file(proxy_factory, upstream, tmp_path):
    """No dynamic_resources at all: static clusters whose endpoints come from files, one each,
    and a static listener; moving a new file in changes one cluster's hosts in place."""
    from harness import Upstream, http_listener, simple_routes
    other = Upstream()
    try:
        directory = tmp_path / "eds"
        directory.mkdir()

        def write(name, *ports):
            staged = directory / f".{name}.tmp"
            staged.write_text(json.dumps({"version_info": "-".join(map(str, ports)), "resources": [
                {"@type": TYPES["endpoints"], **assignment(name, *ports)}]}))
            os.replace(staged, directory / f"{name}.json")

        write("a", upstream.port)
        write("b", upstream.port)
        clusters = [eds_cluster(name, source=file_source(directory, name)) for name in ("a", "b")]
        routes = simple_routes({"match": {"prefix": "/a"}, "route": {"cluster": "a"}},
                               {"match": {"prefix": "/b"}, "route": {"cluster": "b"}})
        proxy = proxy_factory(to_yaml({"static_resources": {
            "listeners": [http_listener("http", "listen", routes)], "clusters": clusters}}))
        port = proxy.port("listen")
        assert RawClient(port).request("GET", "/a").status == 200
        assert RawClient(port).request("GET", "/b").status == 200
        generations = proxy.log().count("serving (")
        write("b", other.port)
        wait_until(lambda: RawClient(port).request("GET", "/b").status == 200 and other.requests,
                   what="cluster b's new host serving")
        before = len(upstream.requests)
        assert RawClient(port).request("GET", "/a").status == 200
        assert len(upstream.requests) == before + 1      # cluster a kept its own host
        assert proxy.log().count("serving (") == generations
    finally:
        other.stop()
