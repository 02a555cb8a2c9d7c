"""Active health checks and outlier detection on EDS clusters, whose hosts come from the control
plane (here: a file moved into place, as Envoy's path_config_source takes it), each test against
hotproxy and Envoy 1.40 on the same config:

- the health checks follow the assignments: a new host is checked before it takes traffic, a
  removed one is no longer checked, and a host that stays keeps its health;
- outlier detection ejects a host EDS sent, and traffic leaves it.
"""
import json
import os

from harness import http_listener, simple_routes, to_yaml
from test_health_outlier_interplay import HEALTH_PATH, Upstream, eject, flags, get, wait_for

ASSIGNMENT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"


def assign(directory, *upstreams, version):
    staged = directory / ".backend.tmp"
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": u.port}}}}
                 for u in upstreams]
    staged.write_text(json.dumps({"version_info": str(version), "resources": [
        {"@type": ASSIGNMENT, "cluster_name": "backend", "endpoints": [{"lb_endpoints": endpoints}]}]}))
    os.replace(staged, directory / "backend.json")


def config(directory, health_check=None, outlier=None):
    cluster = {"name": "backend", "type": "EDS", "connect_timeout": "1s",
               "eds_cluster_config": {"eds_config": {
                   "path_config_source": {"path": str(directory / "backend.json"),
                                          "watched_directory": {"path": str(directory)}}}}}
    if health_check is not None:
        cluster["health_checks"] = [{"timeout": "1s", "no_traffic_interval": health_check["interval"],
                                     "http_health_check": {"path": HEALTH_PATH}, **health_check}]
    if outlier is not None:
        cluster["outlier_detection"] = outlier
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    return to_yaml({
        "node": {"id": "eds-health", "cluster": "test"},     # Envoy's file sources want one
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [http_listener("http", "listen", routes)], "clusters": [cluster]}})


CHECKS = {"interval": "0.3s", "unhealthy_threshold": 1, "healthy_threshold": 1}


def test_health_checks_follow_the_assignments_of_an_eds_cluster(peer_factory, tmp_path):
    good, sick, late = Upstream("good"), Upstream("sick"), Upstream("late")
    sick.server.health_status = 503
    try:
        assign(tmp_path, good, sick, version=1)
        peer = peer_factory(config(tmp_path, CHECKS))
        wait_for(lambda: flags(peer, good.label) == "healthy" and flags(peer, sick.label) == "/failed_active_hc",
                 10, "the first round of checks")
        assert {get(peer) for _ in range(12)} == {(200, "good")}
        assert peer.counter("cluster.backend.health_check.healthy") == 1

        # a new host is checked before it serves; the one that stays keeps its health
        late.server.health_status = 503
        assign(tmp_path, good, late, version=2)
        wait_for(lambda: late.server.checks > 0, 10, "the new host's first check")
        wait_for(lambda: flags(peer, late.label) == "/failed_active_hc", 10, "the new host failing")
        assert flags(peer, sick.label) is None
        assert {get(peer) for _ in range(12)} == {(200, "good")}
        late.server.health_status = 200
        wait_for(lambda: flags(peer, late.label) == "healthy", 10, "the new host passing")
        wait_for(lambda: get(peer)[1] == "late", 10, "traffic reaching the new host")

        # the removed host is no longer checked
        checks = sick.server.checks
        wait_for(lambda: good.server.checks > 3, 10, "more rounds")
        assert sick.server.checks == checks
    finally:
        for upstream in (good, sick, late):
            upstream.close()


def test_outlier_detection_ejects_a_host_that_eds_sent(peer_factory, tmp_path):
    bad, good = Upstream("bad", status=503), Upstream("good")
    try:
        assign(tmp_path, bad, good, version=1)
        peer = peer_factory(config(tmp_path, outlier={
            "consecutive_5xx": 3, "interval": "10s", "base_ejection_time": "60s", "max_ejection_percent": 50}))
        wait_for(lambda: flags(peer, bad.label) == "healthy", 10, "the assignment")
        eject(peer, bad.label)
        assert flags(peer, bad.label) == "/failed_outlier_check"
        assert {get(peer) for _ in range(10)} == {(200, "good")}
        assert peer.counter("cluster.backend.outlier_detection.ejections_active") == 1
    finally:
        bad.close()
        good.close()
