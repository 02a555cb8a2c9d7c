"""Histograms on the admin interface, hotproxy beside a real Envoy 1.40 on the same config and the
same requests: /stats summaries (P0-P100 with interval and cumulative values, "No recorded
values"), the JSON block, and Prometheus' ``_bucket``/``_sum``/``_count`` lines with their
``le`` bounds and tags, ``usedonly`` and ``filter`` in every format. Values differ (the two
proxies time different code); the shape, names, labels and counts must not.

Envoy merges its workers' histograms at each stats flush (until then /stats says "No recorded
values"), so the flush interval is short and the test waits for Envoy's first merge."""
from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import start_peer
from envoy_peer import envoy_binary
from harness import RawClient, http_listener, simple_routes, static_cluster, to_yaml

pytestmark = pytest.mark.skipif(envoy_binary() is None, reason="envoy is not installed")

NUMBER = r"(?:nan|-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
QUANTILE_LINE = re.compile(
    r"^(?P<name>[\w.]+): " + " ".join(rf"{label}\({NUMBER},{NUMBER}\)" for label in
                                      ("P0", "P25", "P50", "P75", "P90", "P95", "P99", "P99\\.5",
                                       "P99\\.9", "P100")) + "$")
HISTOGRAMS = ("cluster.backend.upstream_rq_time", "http.ingress_http.downstream_rq_time")
REQUESTS = 6


def config(upstream_port):
    routes = simple_routes({"match": {"prefix": "/idle"}, "route": {"cluster": "idle"}},
                           {"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    return to_yaml({
        "stats_flush_interval": "0.5s",
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [http_listener("ingress", "listen", routes)],
                             "clusters": [static_cluster("backend", upstream_port),
                                          static_cluster("idle", upstream_port)]}})


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    from harness import Upstream
    upstream = Upstream()
    started = {}
    try:
        for kind in ("hotproxy", "envoy"):
            peer = start_peer(kind, config(upstream.port), tmp_path_factory.mktemp(kind))
            started[kind] = peer
            client = RawClient(peer.port("listen"))
            for _ in range(REQUESTS):
                assert client.request("GET", "/echo").status == 200
            client.sock.close()
            wait_for_count(peer, "cluster.backend.upstream_rq_total", REQUESTS)
            wait_for_merged_histograms(peer)
        yield started
    finally:
        for peer in started.values():
            peer.stop()
        upstream.stop()


def wait_for_count(peer, name, expected):
    deadline = time.monotonic() + 10
    while peer.counter(name) < expected:
        assert time.monotonic() < deadline, f"{peer.kind}: {name} never reached {expected}"
        time.sleep(0.05)


def wait_for_merged_histograms(peer):
    """Until both histograms hold every request: Envoy merges each histogram on its own flush, so
    one may show all values while the other still misses the last."""
    deadline = time.monotonic() + 10
    while not all(_merged_count(admin(peer, "/stats/prometheus"), family) == REQUESTS
                  for family in ("envoy_cluster_upstream_rq_time", "envoy_http_downstream_rq_time")):
        assert time.monotonic() < deadline, f"{peer.kind}: histograms never merged"
        time.sleep(0.1)


def _merged_count(text, family):
    counts = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(family + "_count{") and "admin" not in line]
    return max(counts, default=0)


def admin(peer, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{peer.ports['admin']}{path}", timeout=10) as response:
        return response.read().decode()


def both(peers, path):
    return admin(peers["hotproxy"], path), admin(peers["envoy"], path)


def histogram_lines(text):
    return {line.split(": ", 1)[0]: line for line in text.splitlines()
            if line.split(": ", 1)[0] in HISTOGRAMS + ("cluster.idle.upstream_rq_time",)}


def test_text_summaries_have_envoys_quantiles_and_intervals(peers):
    ours, envoys = (histogram_lines(text) for text in both(peers, "/stats"))
    for name in HISTOGRAMS:
        for line in (ours[name], envoys[name]):
            assert QUANTILE_LINE.match(line), line
    # a cluster that served nothing has no upstream_rq_time yet, in either
    assert "cluster.idle.upstream_rq_time" not in ours and "cluster.idle.upstream_rq_time" not in envoys




def test_usedonly_and_filter_select_the_same_histograms_in_text_and_json(peers):
    ours, envoys = both(peers, "/stats?usedonly&filter=rq_time$")
    assert [line.split(":")[0] for line in ours.splitlines()] == \
        [line.split(":")[0] for line in envoys.splitlines() if line.split(":")[0] in HISTOGRAMS]
    ours, envoys = (json.loads(text) for text in both(peers, "/stats?format=json&usedonly&filter=rq_time$"))
    ours_block, envoys_block = ours["stats"][-1]["histograms"], envoys["stats"][-1]["histograms"]
    assert ours_block["supported_quantiles"] == envoys_block["supported_quantiles"]
    ours_names = [entry["name"] for entry in ours_block["computed_quantiles"]]
    assert ours_names == [entry["name"] for entry in envoys_block["computed_quantiles"]
                          if entry["name"] in HISTOGRAMS]
    for block in (ours_block, envoys_block):
        for entry in block["computed_quantiles"]:
            assert len(entry["values"]) == 10
            assert all(set(value) == {"interval", "cumulative"} and value["cumulative"] is not None
                       for value in entry["values"])


def families(text):
    return {family.name: family for family in text_string_to_metric_families(text)}


@pytest.mark.parametrize("path", ["/stats/prometheus", "/stats?format=prometheus"])
def test_prometheus_histograms_have_envoys_buckets_sum_count_and_tags(peers, path):
    ours, envoys = (families(text) for text in both(peers, path))
    for family_name in ("envoy_cluster_upstream_rq_time", "envoy_http_downstream_rq_time"):
        mine, theirs = ours[family_name], envoys[family_name]
        assert mine.type == theirs.type == "histogram"
        # Envoy's admin interface has connection manager stats of its own (http.admin.*)
        shape = lambda family: sorted((s.name, tuple(sorted((k, v) for k, v in s.labels.items())))
                                      for s in family.samples
                                      if s.labels.get("envoy_http_conn_manager_prefix") != "admin")
        assert shape(mine) == shape(theirs)
        counts = lambda family: {tuple(sorted(s.labels.items())): s.value for s in family.samples
                                 if s.name.endswith("_count") and "admin" not in s.labels.values()}
        assert counts(mine) == counts(theirs) and REQUESTS in counts(mine).values()
        inf = lambda family: [s.value for s in family.samples
                              if s.labels.get("le") == "+Inf" and "admin" not in s.labels.values()]
        assert inf(mine) == inf(theirs)


def test_prometheus_usedonly_and_filter_pick_the_same_families(peers):
    ours, envoys = (families(text) for text in both(peers, "/stats/prometheus?usedonly&filter=rq_time"))
    assert ours["envoy_cluster_upstream_rq_time"].samples and envoys["envoy_cluster_upstream_rq_time"].samples
    idle_labels = {"envoy_cluster_name": "idle"}
    for found in (ours, envoys):
        assert not [s for s in found["envoy_cluster_upstream_rq_time"].samples
                    if idle_labels.items() <= s.labels.items()]
    assert {name for name in ours if "rq_time" in name} <= set(envoys)


def test_the_per_listener_status_classes_have_envoys_name_and_labels(peers):
    ours, envoys = (families(text) for text in both(peers, "/stats/prometheus?filter=listener.*http"))
    label_sets = lambda family: sorted(tuple(sorted(s.labels)) for s in family.samples)
    assert label_sets(ours["envoy_listener_http_downstream_rq_xx"]) == \
        label_sets(envoys["envoy_listener_http_downstream_rq_xx"])
    twos = lambda family: [s.value for s in family.samples if s.labels["envoy_response_code_class"] == "2"]
    assert twos(ours["envoy_listener_http_downstream_rq_xx"]) == \
        twos(envoys["envoy_listener_http_downstream_rq_xx"]) == [REQUESTS]
