"""A widely used public Envoy dashboard works against hotproxy's Prometheus output: the
monitoring mixin "Envoy / Overview" (adinhodovic/envoy-mixin, dashboards_out/envoy-overview.json;
envoy_mixin_overview_metrics.json holds the metric and envoy_* label names its queries use, and
where they were copied from). A real hotproxy serves HTTP/1, HTTP/2 and TLS traffic, with
successes and failures, then every metric each panel queries must be a series hotproxy exports,
carrying the labels the panel filters and groups by.

Our own dashboard (deploy/observability/hotproxy-dashboard.json) is held to the same rule."""
from __future__ import annotations

import json
import re
import socket
import ssl
import sys
import urllib.request
from pathlib import Path

import pytest

from harness import RawClient, http_listener, simple_routes, static_cluster, to_yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from certs import CA  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
TLS_CONTEXT = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"


def series(text):
    """``{sample name: [labels dict, ...]}`` from Prometheus' text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        out.setdefault(match["name"], []).append(dict(LABEL.findall(match["labels"] or "")))
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """What /stats/prometheus shows once a hotproxy has served a mix of traffic."""
    from conftest import start_peer
    from harness import Upstream
    directory = tmp_path_factory.mktemp("dashboard")
    leaf = CA().issue("proxy.test", dns=["proxy.test"])
    cert, key = leaf.write(directory, "server")
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    plain = http_listener("ingress", "listen", routes, {"codec_type": "AUTO"})
    tls = http_listener("secure", "listen_tls", routes, stat_prefix="ingress_tls")
    tls["filter_chains"][0]["transport_socket"] = {"name": "tls", "typed_config": {
        "@type": TLS_CONTEXT, "common_tls_context": {"tls_certificates": [
            {"certificate_chain": {"filename": str(cert)}, "private_key": {"filename": str(key)}}]}}}
    upstream = Upstream()
    config = to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {"listeners": [plain, tls], "clusters": [static_cluster("backend", upstream.port)]}})
    peer = start_peer("hotproxy", config, directory)
    try:
        client = RawClient(peer.port("listen"))
        for path in ("/echo", "/echo", "/status/503", "/status/404"):
            client.request("GET", path)
        client.sock.close()
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(socket.create_connection(("127.0.0.1", peer.port("listen_tls"))),
                                 server_hostname="proxy.test") as conn:
            conn.sendall(b"GET /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            while conn.recv(65536):
                pass
        with urllib.request.urlopen(f"http://127.0.0.1:{peer.ports['admin']}/stats/prometheus",
                                    timeout=10) as response:
            yield series(response.read().decode())
    finally:
        peer.stop()
        upstream.stop()


def resolves(exported, metric):
    """The series a query's metric name selects. A counter's family is exported with the
    ``_total`` its name may already end in (``envoy_cluster_upstream_rq_total``)."""
    return exported.get(metric, [])


MIXIN = json.loads((HERE / "envoy_mixin_overview_metrics.json").read_text())


@pytest.mark.parametrize("panel", MIXIN["panels"], ids=[panel["panel"] for panel in MIXIN["panels"]])
def test_every_envoy_mixin_overview_query_resolves(exported, panel):
    for metric in panel["metrics"]:
        assert resolves(exported, metric), f"{panel['panel']}: no series for {metric}"
    for label in panel["labels"]:
        assert any(label in labels for metric in panel["metrics"] for labels in resolves(exported, metric)), \
            f"{panel['panel']}: no series of {panel['metrics']} carries {label}"


def test_the_labels_carry_what_the_dashboard_filters_on(exported):
    classes = {labels["envoy_response_code_class"] for labels in exported["envoy_cluster_upstream_rq_xx"]}
    assert {"2", "4", "5"} <= classes
    prefixes = {labels["envoy_http_conn_manager_prefix"] for labels in exported["envoy_http_downstream_rq_total"]}
    assert prefixes == {"ingress_http", "ingress_tls"}
    buckets = [labels for labels in exported["envoy_cluster_upstream_rq_time_bucket"]
               if labels.get("envoy_cluster_name") == "backend"]
    assert buckets and all("le" in labels for labels in buckets)


OURS = ROOT / "deploy" / "observability" / "hotproxy-dashboard.json"


def our_queries():
    dashboard = json.loads(OURS.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"]
            for target in panel.get("targets", [])]


@pytest.mark.parametrize("title,expr", our_queries(), ids=[title for title, _ in our_queries()])
def test_every_query_of_our_dashboard_resolves(exported, title, expr):
    metrics = set(re.findall(r"\b(envoy_[a-z0-9_]+)\{", expr))   # every metric has a selector
    assert metrics, f"{title}: no metric in {expr}"
    for metric in metrics:
        assert resolves(exported, metric), f"{title}: no series for {metric}"
