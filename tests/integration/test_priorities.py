"""Priorities and localities through real processes: a priority keeps the load while enough of
its hosts are healthy, spills the rest to the next one as its healthy share drops (Envoy's
overprovisioning factor 1.4), and takes it back when its hosts recover; locality weights share a
priority's load."""
import socket
import threading
import time
import urllib.request
from collections import Counter

from harness import TCP_PROXY_TYPE, to_yaml

CONNECTIONS = 100


class Server:
    """Sends its name to each connection; ``stop`` closes its listener, ``start`` listens again
    on the same port."""

    def __init__(self, name):
        self.name = name
        self.port = 0
        self.sock = None
        self.start()

    def start(self):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self.sock = sock
        threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(self.name.encode())

    def stop(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def config(first, second):
    def locality(servers, priority):
        return {"priority": priority, "lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": s.port}}}}
            for s in servers]}
    proxy = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}
    return to_yaml({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "static_resources": {
            "listeners": [{"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1",
                                                                         "port_value": "{port:listen}"}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                                                           "typed_config": proxy}]}]}],
            "clusters": [{"name": "backend", "connect_timeout": "1s",
                          "health_checks": [{"timeout": "0.5s", "interval": "0.1s", "unhealthy_threshold": 1,
                                             "healthy_threshold": 1, "tcp_health_check": {},
                                             "no_traffic_interval": "0.1s"}],
                          "load_assignment": {"cluster_name": "backend",
                                              "endpoints": [locality(first, 0), locality(second, 1)]}}]}})


def spread(proxy):
    seen = Counter()
    for _ in range(CONNECTIONS):
        with socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=5) as sock:
            data = b""
            while piece := sock.recv(64):
                data += piece
            seen[data.decode()] += 1
    return seen


def wait_for_flags(proxy, wanted, timeout=10.0):
    """Until /clusters shows ``wanted`` ({port: healthy?})."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port('admin')}/clusters", timeout=5) as response:
            text = response.read().decode()
        flags = {int(line.split("::")[1].rpartition(":")[2]): line.endswith("::healthy")
                 for line in text.splitlines() if "::health_flags::" in line}
        if all(flags.get(port) == healthy for port, healthy in wanted.items()):
            return
        time.sleep(0.05)
    raise AssertionError(f"health never became {wanted}: {flags}")


def test_priorities_spill_over_fail_over_and_fail_back(proxy_factory):
    a0, a1, b = Server("a0"), Server("a1"), Server("b")
    proxy = proxy_factory(config([a0, a1], [b]))
    wait_for_flags(proxy, {a0.port: True, a1.port: True, b.port: True})
    assert set(spread(proxy)) == {"a0", "a1"}

    a0.stop()                    # priority 0 is 50% healthy: 70% of the load stays
    wait_for_flags(proxy, {a0.port: False})
    seen = spread(proxy)
    assert seen["a0"] == 0 and 10 <= seen["b"] <= 55 and seen["a1"] + seen["b"] == CONNECTIONS

    a1.stop()                    # nothing healthy left in priority 0
    wait_for_flags(proxy, {a1.port: False})
    assert spread(proxy) == Counter({"b": CONNECTIONS})

    a0.start()
    a1.start()
    wait_for_flags(proxy, {a0.port: True, a1.port: True})
    assert set(spread(proxy)) == {"a0", "a1"}


def test_locality_weights_share_the_load(proxy_factory):
    light, heavy = Server("light"), Server("heavy")
    localities = [{"load_balancing_weight": weight, "locality": {"zone": zone}, "lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": s.port}}}}]}
        for s, weight, zone in ((light, 1, "a"), (heavy, 3, "b"))]
    proxy = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}
    proxy = proxy_factory(to_yaml({"static_resources": {
        "listeners": [{"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1",
                                                                     "port_value": "{port:listen}"}},
                       "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                                                       "typed_config": proxy}]}]}],
        "clusters": [{"name": "backend", "connect_timeout": "1s",
                      "common_lb_config": {"locality_weighted_lb_config": {}},
                      "load_assignment": {"cluster_name": "backend", "endpoints": localities}}]}}))
    seen = spread(proxy)
    assert 65 <= seen["heavy"] <= 85 and seen["light"] + seen["heavy"] == CONNECTIONS
