"""A cluster's alt_stat_name (istiod sets '<name>;' on every cluster) is the name all its stats
go by, cluster.<alt_stat_name>.*: traffic, circuit breakers, health checks, outlier detection;
and /clusters' observability_name. Against hotproxy and Envoy 1.40 on the same config."""
from __future__ import annotations

import time
import urllib.request

from harness import RawClient, admin_stats, http_listener, simple_routes, static_cluster, to_yaml
from raw_upstream import RecordingUpstream

NAME = "outbound|9080||reviews.default.svc.cluster.local"
ALT = NAME + ";"


def config(port):
    cluster = static_cluster(NAME, port, extra={
        "alt_stat_name": ALT,
        "metadata": {"filter_metadata": {"istio": {"default_original_port": 9080, "services": [
            {"host": "reviews.default.svc.cluster.local", "name": "reviews", "namespace": "default"}]}}},
        "health_checks": [{"timeout": "1s", "interval": "30s", "unhealthy_threshold": 1,
                           "healthy_threshold": 1, "tcp_health_check": {}}],
        "outlier_detection": {}})
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {
            "listeners": [http_listener("http", "listen", simple_routes(
                {"match": {"prefix": "/"}, "route": {"cluster": NAME}}))],
            "clusters": [cluster]}})


def cluster_stats(peer):
    return {name: value for name, value in admin_stats(peer.port("admin"), "reviews").items()
            if name.startswith("cluster.")}


def test_the_clusters_stats_go_by_its_alt_stat_name(peer_factory):
    upstream = RecordingUpstream()
    try:
        peer = peer_factory(config(upstream.port))
        client = RawClient(peer.port("listen"))
        try:
            assert client.request("GET", "/", headers=[("Host", "reviews")]).status == 200
        finally:
            client.close()
        deadline = time.monotonic() + 10
        stats = cluster_stats(peer)
        while stats.get(f"cluster.{ALT}.upstream_rq_total") != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
            stats = cluster_stats(peer)
        assert stats[f"cluster.{ALT}.upstream_rq_total"] == 1
        assert stats[f"cluster.{ALT}.upstream_rq_2xx"] == 1
        for name in ("circuit_breakers.default.rq_open", "health_check.attempt",
                     "outlier_detection.ejections_active", "membership_total"):
            assert f"cluster.{ALT}.{name}" in stats, name
        assert not [name for name in stats if name.startswith(f"cluster.{NAME}.")]
        with urllib.request.urlopen(f"http://127.0.0.1:{peer.port('admin')}/clusters", timeout=10) as r:
            assert f"{NAME}::observability_name::{ALT}" in r.read().decode().splitlines()
    finally:
        upstream.close()
