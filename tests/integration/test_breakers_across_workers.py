"""Circuit breakers through real processes: a limit holds for the cluster as a whole, across
every worker (--concurrency 2, connections spread over both by SO_REUSEPORT), as in Envoy."""
import socket
import threading
import time

from harness import (TCP_PROXY_TYPE, RawClient, accept_each, admin_stats, http_listener, simple_routes,
                     static_cluster, to_yaml)

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
CONNECTIONS = 20


class HoldingServer:
    """Accepts connections and holds them open (HTTP: answers each request after ``delay``)."""

    def __init__(self, http_delay=None):
        self.accepted = 0
        self.open = self.most_open = 0
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.http_delay = http_delay
        self.release = threading.Event()
        accept_each(self.sock, self._hold)

    def _hold(self, conn):
        with self._lock:
            self.accepted += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        with conn:
            if self.http_delay is None:
                conn.recv(1)          # until the proxy closes it
                with self._lock:
                    self.open -= 1
                return
            conn.recv(65536)
            time.sleep(self.http_delay)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            self.release.wait(30)


def breakers(**limits):
    return {"circuit_breakers": {"thresholds": [{"track_remaining": True, **limits}]}}


def test_max_connections_holds_across_workers_for_the_tcp_proxy(proxy_factory):
    upstream = HoldingServer()
    proxy = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}
    config = to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [{"name": "tcp", "enable_reuse_port": True,
                       "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                       "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                                                       "typed_config": proxy}]}]}],
        "clusters": [static_cluster("backend", upstream.port, extra=breakers(max_connections=3))]}})
    running = proxy_factory(config, extra_args=("--concurrency", "2"))
    # (the harness's readiness probe went through the proxy too, and left)
    clients = [socket.create_connection(("127.0.0.1", running.port("listen")), timeout=5)
               for _ in range(CONNECTIONS)]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            stats = admin_stats(running.port("admin"), "^cluster.backend.")
            if stats.get("cluster.backend.upstream_cx_overflow", 0) >= CONNECTIONS - 3 and upstream.open == 3:
                break
            time.sleep(0.05)
        assert upstream.open == upstream.most_open == 3
        # one more if the probe still held its place when these came
        assert CONNECTIONS - 3 <= stats["cluster.backend.upstream_cx_overflow"] <= CONNECTIONS - 2
        assert stats["cluster.backend.circuit_breakers.default.cx_open"] == 1
        assert stats["cluster.backend.circuit_breakers.default.remaining_cx"] == 0
    finally:
        upstream.release.set()
        for client in clients:
            client.close()


def test_max_requests_holds_across_workers_for_the_router(proxy_factory):
    upstream = HoldingServer(http_delay=1.0)
    listener = http_listener("http", "listen", simple_routes({"match": {"prefix": "/"},
                                                              "route": {"cluster": "backend"}}))
    listener["enable_reuse_port"] = True
    config = to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [listener],
        "clusters": [static_cluster("backend", upstream.port, extra=breakers(max_requests=2))]}})
    running = proxy_factory(config, extra_args=("--concurrency", "2"))
    statuses = []

    def one():
        client = RawClient(running.port("listen"))
        try:
            statuses.append(client.request().status)
        finally:
            client.close()

    threads = [threading.Thread(target=one) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    upstream.release.set()
    assert sorted(statuses) == [200, 200] + [503] * (CONNECTIONS - 2)
    stats = admin_stats(running.port("admin"), "^cluster.backend.upstream_rq_active_overflow$")
    assert stats["cluster.backend.upstream_rq_active_overflow"] == CONNECTIONS - 2


def test_hotproxy_and_envoy_refuse_tcp_connections_alike(peer_factory):
    """max_connections 2 and five held connections through the TCP proxy of hotproxy and of
    Envoy 1.40 (one worker each): two reach the upstream, the rest overflow, same gauges."""
    upstream = HoldingServer()
    proxy = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}
    peer = peer_factory(to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [{"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1",
                                                                     "port_value": "{port:listen}"}},
                       "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                                                       "typed_config": proxy}]}]}],
        "clusters": [static_cluster("backend", upstream.port, extra=breakers(max_connections=2))]}}))
    # The readiness probe's connection went through the TCP proxy too: its breaker slot must be
    # free again before the five arrive, or one of them overflows in its place.
    deadline = time.monotonic() + 10
    while (peer.counter("cluster.backend.circuit_breakers.default.cx_open") or upstream.open) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    clients = [socket.create_connection(("127.0.0.1", peer.port("listen")), timeout=5) for _ in range(5)]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            overflow = peer.counter("cluster.backend.upstream_cx_overflow")
            if overflow >= 3 and upstream.open == 2:
                break
            time.sleep(0.05)
        assert (upstream.open, upstream.most_open) == (2, 2)
        # the readiness probe's connection came and went first: 3 of 5 overflow
        assert overflow == 3
        for name, value in (("cx_open", 1), ("remaining_cx", 0), ("rq_pending_open", 0),
                            ("remaining_pending", 1024), ("remaining_retries", 3)):
            assert (name, peer.counter(f"cluster.backend.circuit_breakers.default.{name}")) == (name, value)
    finally:
        upstream.release.set()
        for client in clients:
            client.close()
