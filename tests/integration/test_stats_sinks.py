"""Stats sinks end to end: a real hotproxy flushes to statsd / DogStatsD listeners in this test
process (UDP sockets, a TCP server), which parse what arrives as Envoy's wire format."""
from __future__ import annotations

import re
import socket
import threading
import time
import urllib.request

import pytest

from harness import (RawClient, admin_counter, http_listener, refused_port, simple_routes,
                     static_cluster, to_yaml)

STATSD = "type.googleapis.com/envoy.config.metrics.v3.StatsdSink"
DOG_STATSD = "type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink"
LINE = re.compile(r"^(?P<name>[^:|]+):(?P<value>-?\d+)\|(?P<type>c|g|ms)(?:\|#(?P<tags>.*))?$")


class UdpSink:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams = []

    def receive_until(self, done, timeout=20):
        """Datagrams until ``done(lines)`` holds for every line received so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.datagrams.append(self.sock.recv(65536).decode())
            except socket.timeout:
                pass
            if done(self.lines()):
                return self.lines()
        raise AssertionError(f"not received in time; got {self.lines()[-40:]}")

    def lines(self):
        return [line for datagram in self.datagrams for line in datagram.split("\n")]

    def close(self):
        self.sock.close()


class TcpSink:
    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.data = b""
        self.connections = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        with conn:
            while True:
                piece = conn.recv(65536)
                if not piece:
                    return
                with self._lock:
                    self.data += piece

    def receive_until(self, done, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                text = self.data.decode()
            if text.endswith("\n") and done(text.splitlines()):
                return text
            time.sleep(0.05)
        raise AssertionError(f"not received in time; got {self.data[-2000:]!r}")

    def close(self):
        self.server.close()


def parsed(lines):
    out = []
    for line in lines:
        match = LINE.match(line)
        assert match, f"not statsd: {line!r}"
        out.append((match["name"], int(match["value"]), match["type"], match["tags"]))
    return out


def total(lines, name, kind="c", tags=None):
    return sum(value for n, value, t, tag_text in parsed(lines)
               if n == name and t == kind and (tags is None or tag_text == tags))


def config(upstream_port, sinks, extra=None, clusters=()):
    listener = http_listener("ingress", "listen", simple_routes({"match": {"prefix": "/"},
                                                                 "route": {"cluster": "backend"}}))
    tree = {"stats_flush_interval": "0.2s", "stats_sinks": sinks,
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
            "static_resources": {"listeners": [listener],
                                 "clusters": [static_cluster("backend", upstream_port), *clusters]}}
    tree.update(extra or {})
    return to_yaml(tree)


def udp_sink(kind, port, **fields):
    return {"name": f"envoy.stat_sinks.{kind}",
            "typed_config": {"@type": STATSD if kind == "statsd" else DOG_STATSD,
                             "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                             **fields}}


def send(proxy, count, path="/echo"):
    client = RawClient(proxy.port("listen"))
    for _ in range(count):
        assert client.request("GET", path).status in (200, 503)
    client.sock.close()


@pytest.fixture
def udp():
    sinks = []

    def make():
        sinks.append(UdpSink())
        return sinks[-1]

    yield make
    for sink in sinks:
        sink.close()


def test_statsd_udp_sends_counter_deltas_gauges_and_every_histogram_value(proxy_factory, upstream, udp):
    sink = udp()
    proxy = proxy_factory(config(upstream.port, [udp_sink("statsd", sink.port)]))
    send(proxy, 7)
    rq_total = "envoy.http.ingress_http.downstream_rq_total"
    lines = sink.receive_until(lambda lines: total(lines, rq_total) >= 7
                               and total(lines, "envoy.cluster.backend.upstream_rq_time", "ms") is not None
                               and sum(1 for n, _, t, _ in parsed(lines)
                                       if n == "envoy.http.ingress_http.downstream_rq_time") >= 7)
    # plain statsd: one line a datagram, full stat names, no tags
    assert all("\n" not in datagram for datagram in sink.datagrams)
    assert all(tags is None for *_, tags in parsed(lines))
    # counters are deltas: they add up to the total, never more, whatever the flushes were
    assert total(lines, rq_total) == 7
    assert total(lines, "envoy.cluster.backend.upstream_rq_2xx") == 7
    # a histogram value is a timer line per request, in whole milliseconds
    timers = [value for name, value, kind, _ in parsed(lines)
              if name == "envoy.http.ingress_http.downstream_rq_time"]
    assert len(timers) == 7 and all(kind == "ms" for name, _, kind, _ in parsed(lines)
                                    if name.endswith("_rq_time"))
    assert all(0 <= value < 10_000 for value in timers)
    # gauges are levels
    gauges = {name: value for name, value, kind, _ in parsed(lines) if kind == "g"}
    assert gauges["envoy.cluster.backend.membership_total"] == 1
    assert gauges["envoy.server.live"] == 1
    # once idle, later flushes send the used counters with a zero delta
    sink.datagrams.clear()
    sink.receive_until(lambda lines: any(line.startswith(rq_total + ":") for line in lines))
    assert total(sink.lines(), rq_total) == 0


def test_dog_statsd_tags_prefix_and_datagram_size(proxy_factory, upstream, udp):
    sink = udp()
    proxy = proxy_factory(config(upstream.port, [udp_sink("dog_statsd", sink.port, prefix="edge",
                                                          max_bytes_per_datagram=300)]))
    send(proxy, 3)
    send(proxy, 2, "/status/503")
    cluster_xx = "edge.cluster.upstream_rq_xx"
    lines = sink.receive_until(
        lambda lines: total(lines, cluster_xx, tags="envoy.response_code_class:2,envoy.cluster_name:backend") >= 3
        and total(lines, cluster_xx, tags="envoy.response_code_class:5,envoy.cluster_name:backend") >= 2
        and sum(1 for line in lines if line.startswith("edge.http.downstream_rq_time:")) >= 5)
    assert total(lines, "edge.http.downstream_rq_total",
                 tags="envoy.http_conn_manager_prefix:ingress_http") == 5
    timers = [line for line in lines if line.startswith("edge.http.downstream_rq_time:")]
    assert all(line.endswith("|ms|#envoy.http_conn_manager_prefix:ingress_http") for line in timers)
    # counters and gauges share datagrams up to max_bytes_per_datagram
    assert max(len(datagram.encode()) for datagram in sink.datagrams) <= 300
    assert any("\n" in datagram for datagram in sink.datagrams)


def test_statsd_tcp_to_a_cluster(proxy_factory, upstream):
    sink = TcpSink()
    try:
        sinks = [{"name": "envoy.stat_sinks.statsd",
                  "typed_config": {"@type": STATSD, "tcp_cluster_name": "statsd", "prefix": "hp"}}]
        proxy = proxy_factory(config(upstream.port, sinks, clusters=[static_cluster("statsd", sink.port)]))
        send(proxy, 4)
        text = sink.receive_until(lambda lines: total(lines, "hp.http.ingress_http.downstream_rq_total") >= 4
                                  and sum(1 for line in lines
                                          if line.startswith("hp.cluster.backend.upstream_rq_time:")) >= 4)
        assert total(text.splitlines(), "hp.http.ingress_http.downstream_rq_total") == 4
        assert sink.connections == 1        # one connection kept across flushes
    finally:
        sink.close()


def test_a_dead_sink_is_counted_and_costs_no_request(proxy_factory, upstream, udp):
    sinks = [{"name": "envoy.stat_sinks.statsd",
              "typed_config": {"@type": STATSD, "tcp_cluster_name": "statsd"}}]
    proxy = proxy_factory(config(upstream.port, sinks, clusters=[static_cluster("statsd", refused_port())]))
    admin = proxy.port("admin")
    deadline = time.monotonic() + 20
    while admin_counter(admin, "statsd.cx_connect_fail") < 2:
        assert time.monotonic() < deadline, "no connection failure counted"
        send(proxy, 2)
        time.sleep(0.2)
    send(proxy, 5)
    assert admin_counter(admin, "http.ingress_http.downstream_rq_2xx") >= 5


def test_stats_matcher_leaves_matched_out_stats_out_of_admin_prometheus_and_sinks(proxy_factory, upstream, udp):
    sink = udp()
    matcher = {"stats_config": {"stats_matcher": {"exclusion_list": {"patterns": [
        {"prefix": "cluster.backend."}, {"safe_regex": {"regex": r".*downstream_rq_time"}}]}}}}
    proxy = proxy_factory(config(upstream.port, [udp_sink("statsd", sink.port)], extra=matcher))
    send(proxy, 3)
    lines = sink.receive_until(lambda lines: total(lines, "envoy.http.ingress_http.downstream_rq_total") >= 3)
    assert not [line for line in lines if line.startswith("envoy.cluster.backend.")]
    assert not [line for line in lines if "downstream_rq_time:" in line]
    admin = proxy.port("admin")
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats", timeout=10).read().decode()
    names = [line.split(": ")[0] for line in text.splitlines()]
    assert "http.ingress_http.downstream_rq_total: 3" in text
    assert not [name for name in names if name.startswith("cluster.backend.")]
    assert "http.ingress_http.downstream_rq_time" not in names
    assert "http.ingress_http.downstream_rq_timeout" in names      # not matched: still there
    assert "cluster_manager.cds.update_attempt: 0" in text      # not matched: still there
    prometheus = urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus", timeout=10).read().decode()
    assert 'envoy_cluster_name="backend"' not in prometheus
    assert "envoy_http_downstream_rq_time_bucket" not in prometheus
    assert "envoy_http_downstream_rq_total" in prometheus


def test_inclusion_list_keeps_only_what_it_names(proxy_factory, upstream, udp):
    sink = udp()
    matcher = {"stats_config": {"stats_matcher": {"inclusion_list": {"patterns": [
        {"prefix": "http.ingress_http."}]}}}}
    proxy = proxy_factory(config(upstream.port, [udp_sink("statsd", sink.port)], extra=matcher))
    send(proxy, 2)
    lines = sink.receive_until(lambda lines: total(lines, "envoy.http.ingress_http.downstream_rq_total") >= 2
                               and sum(1 for line in lines if "downstream_rq_time" in line) >= 2)
    assert {name.split(".")[1] for name, *_ in parsed(lines)} == {"http"}
    text = urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('admin')}/stats", timeout=10).read().decode()
    assert {line.split(".")[0] for line in text.splitlines()} == {"http"}


def test_histogram_bucket_settings_set_the_prometheus_bounds(proxy_factory, upstream):
    buckets = {"stats_config": {"histogram_bucket_settings": [
        {"match": {"prefix": "cluster.backend."}, "buckets": [2000, 0.1, 1000]}]}}
    proxy = proxy_factory(config(upstream.port, [], extra=buckets))
    send(proxy, 3)
    admin = proxy.port("admin")
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus", timeout=10).read().decode()
    bounds = re.findall(r'envoy_cluster_upstream_rq_time_bucket\{envoy_cluster_name="backend",le="([^"]+)"\} (\d+)',
                        text)
    # sorted, and printed as Envoy 1.40 prints them ({:.32g}: 0.1 with all its binary digits)
    assert [bound for bound, _ in bounds] == ["0.10000000000000000555111512312578", "1000", "2000", "+Inf"]
    assert [int(count) for _, count in bounds][1:] == [3, 3, 3]
    # the other histograms keep Envoy's default bounds
    assert 'envoy_http_downstream_rq_time_bucket{envoy_http_conn_manager_prefix="ingress_http",le="3600000"} 3' in text


def test_a_reload_changes_the_sinks(proxy_factory, upstream, udp):
    from harness import reload, rewrite
    before, after = udp(), udp()
    proxy = proxy_factory(config(upstream.port, [udp_sink("statsd", before.port)]))
    send(proxy, 2)
    before.receive_until(lambda lines: total(lines, "envoy.http.ingress_http.downstream_rq_total") >= 2)
    rewrite(proxy, config(upstream.port, [udp_sink("dog_statsd", after.port, prefix="next")]))
    reload(proxy, 1)
    send(proxy, 3)
    lines = after.receive_until(lambda lines: sum(1 for line in lines
                                                  if line.startswith("next.http.downstream_rq_time:")) >= 3)
    assert all(line.startswith("next.") for line in lines)
    drain(before)       # what it was sent before the reload
    time.sleep(1)       # several flush intervals: the removed sink hears nothing more
    assert drain(before) == []


def drain(sink):
    received = []
    while True:
        try:
            received.append(sink.sock.recv(65536))
        except socket.timeout:
            return received
