"""Outlier detection through real processes: the arbiter decides ejections from every worker's
outcomes and every worker stops using the ejected host; it comes back after its ejection time,
and a second ejection lasts longer (base_ejection_time × 2)."""
import socket
import time
import urllib.request

from harness import TCP_PROXY_TYPE, accept_each, admin_stats, refused_port, to_yaml

BASE_EJECTION_S = 1.0


class NamedServer:
    """Sends its name to every connection, then closes it; counts connections."""

    def __init__(self, name):
        self.name = name
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        accept_each(self.sock, self._answer)

    def _answer(self, conn):
        self.accepted += 1
        with conn:
            conn.sendall(self.name.encode())


def config(good_port, refusing_port, outlier):
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                 for port in (good_port, refusing_port)]
    proxy = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {
            "listeners": [{"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                                                           "typed_config": proxy}]}]}],
            "clusters": [{"name": "backend", "connect_timeout": "1s", "outlier_detection": outlier,
                          "load_assignment": {"cluster_name": "backend",
                                              "endpoints": [{"lb_endpoints": endpoints}]}}]}})


def through(proxy):
    """One connection through the proxy: the name of the server that answered, b"" if none."""
    with socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=5) as sock:
        data = b""
        while True:
            piece = sock.recv(64)
            if not piece:
                return data
            data += piece


def flags(proxy, label):
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('admin')}/clusters", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f"backend::{label}::health_flags::"):
                return line.rpartition("::")[2]
    return None


def eject(proxy, label, timeout=10.0):
    """Connect until ``label`` is ejected; the time it happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        through(proxy)
        if flags(proxy, label) == "/failed_outlier_check":
            return time.monotonic()
    raise AssertionError(f"{label} was never ejected")


def back(proxy, label, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if flags(proxy, label) == "healthy":
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"{label} never came back")


def test_a_failing_host_is_ejected_from_every_worker_and_comes_back_for_longer_each_time(proxy_factory):
    good = NamedServer("good")
    refusing_port = refused_port()          # nothing listens: every connect is refused
    proxy = proxy_factory(config(good.port, refusing_port, {
        "consecutive_5xx": 3, "interval": "0.2s", "base_ejection_time": f"{BASE_EJECTION_S}s",
        "max_ejection_percent": 50}), extra_args=("--concurrency", "2"))
    refusing = f"127.0.0.1:{refusing_port}"
    assert flags(proxy, refusing) == "healthy"

    ejected_at = eject(proxy, refusing)
    # every worker balances over the good host only while it is out
    assert all(through(proxy) == b"good" for _ in range(20))
    first = back(proxy, refusing) - ejected_at
    assert first >= BASE_EJECTION_S - 0.05

    ejected_at = eject(proxy, refusing)
    second = back(proxy, refusing) - ejected_at
    assert second >= 2 * BASE_EJECTION_S - 0.05

    stats = admin_stats(proxy.port("admin"), "^cluster.backend.outlier_detection.")
    assert stats["cluster.backend.outlier_detection.ejections_enforced_consecutive_5xx"] == 2
    assert stats["cluster.backend.outlier_detection.ejections_detected_consecutive_5xx"] == 2
    assert stats["cluster.backend.outlier_detection.ejections_enforced_total"] == 2
    assert stats["cluster.backend.outlier_detection.ejections_active"] == 0
    assert stats["cluster.backend.outlier_detection.ejections_overflow"] == 0


def test_max_ejection_percent_refuses_the_ejection_as_envoy_does(proxy_factory):
    # probed on Envoy 1.40: with two hosts and the default 10%, no host is ever ejected
    good = NamedServer("good")
    refusing_port = refused_port()
    proxy = proxy_factory(config(good.port, refusing_port, {"consecutive_5xx": 2, "interval": "0.2s"}))
    for _ in range(12):
        through(proxy)
    deadline = time.monotonic() + 10
    while True:
        stats = admin_stats(proxy.port("admin"), "^cluster.backend.outlier_detection.")
        if stats["cluster.backend.outlier_detection.ejections_overflow"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert stats["cluster.backend.outlier_detection.ejections_overflow"] >= 1
    assert stats["cluster.backend.outlier_detection.ejections_enforced_total"] == 0
    assert flags(proxy, f"127.0.0.1:{refusing_port}") == "healthy"


def test_hotproxy_and_envoy_eject_alike(peer_factory):
    """The same connections through hotproxy and Envoy 1.40 (one worker each): a host refusing
    every connect is ejected after three, with the same counters and flag, and so is the
    overflow of the default max_ejection_percent."""
    for outlier, ejected in (({"consecutive_5xx": 3, "interval": "0.2s", "base_ejection_time": "30s",
                               "max_ejection_percent": 50}, True),
                             ({"consecutive_5xx": 3, "interval": "0.2s"}, False)):
        good = NamedServer("good")
        refusing_port = refused_port()
        peer = peer_factory(config(good.port, refusing_port, outlier))
        for _ in range(6):           # round robin: three to each host
            through(peer)
        names = ("ejections_enforced_consecutive_5xx", "ejections_detected_consecutive_5xx",
                 "ejections_enforced_total", "ejections_overflow", "ejections_active",
                 "ejections_consecutive_5xx", "ejections_total")
        expected = {"ejections_enforced_consecutive_5xx": int(ejected), "ejections_detected_consecutive_5xx": 1,
                    "ejections_enforced_total": int(ejected), "ejections_overflow": int(not ejected),
                    "ejections_active": int(ejected), "ejections_consecutive_5xx": 1,
                    "ejections_total": int(ejected)}
        # the counters are read one admin request each, so one reading may straddle the ejection
        deadline = time.monotonic() + 5
        while True:
            found = {name: peer.counter(f"cluster.backend.outlier_detection.{name}") for name in names}
            if found == expected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (peer.kind, found) == (peer.kind, expected)
        assert flags(peer, f"127.0.0.1:{refusing_port}") == ("/failed_outlier_check" if ejected else "healthy")
        peer.stop()
