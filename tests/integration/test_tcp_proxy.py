"""tcp_proxy through a real hotproxy: bytes both ways, half-close, idle timeout, connect failure."""
import hashlib
import socket
import threading
import time

import pytest

from harness import TCP_PROXY_TYPE, accept_each, refused_port, static_cluster, to_yaml


def tcp_config(upstream_port, idle_timeout=None, cluster_port=None):
    proxy = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}
    if idle_timeout:
        proxy["idle_timeout"] = idle_timeout
    return to_yaml({"static_resources": {
        "listeners": [{"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                       "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": proxy}]}]}],
        "clusters": [static_cluster("backend", upstream_port)],
    }})


class EchoServer:
    """Echoes bytes until the client half-closes, then sends a SHA-256 of everything and closes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        accept_each(self.sock, self._echo)

    @staticmethod
    def _echo(conn):
        digest = hashlib.sha256()
        with conn:
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    break
                digest.update(data)
                conn.sendall(data)
            conn.sendall(b"SHA:" + digest.hexdigest().encode())

    def close(self):
        self.sock.close()


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


def test_bytes_flow_both_ways_and_half_close_is_honoured(proxy_factory, echo):
    proxy = proxy_factory(tcp_config(echo.port))
    payload = bytes(range(256)) * 40000  # ~10 MB
    with socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=10) as sock:
        received = bytearray()

        def reader():
            while True:
                data = sock.recv(1 << 16)
                if not data:
                    return
                received.extend(data)

        thread = threading.Thread(target=reader)
        thread.start()
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)   # half-close: the server still answers after our EOF
        thread.join(20)
    assert bytes(received[:len(payload)]) == payload
    assert bytes(received[len(payload):]) == b"SHA:" + hashlib.sha256(payload).hexdigest().encode()


def test_upstream_connect_failure_closes_downstream(proxy_factory):
    proxy = proxy_factory(tcp_config(refused_port()))
    with socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=5) as sock:
        assert sock.recv(10) == b""


def test_idle_timeout_closes_both_sides(proxy_factory, echo):
    proxy = proxy_factory(tcp_config(echo.port, idle_timeout="0.5s"))
    with socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=5) as sock:
        sock.sendall(b"ping")
        assert sock.recv(10) == b"ping"
        started = time.monotonic()
        assert sock.recv(10) == b""  # closed by hotproxy, not by us or the echo server
        assert 0.3 < time.monotonic() - started < 4


def test_activity_in_one_direction_keeps_the_connection(proxy_factory, echo):
    proxy = proxy_factory(tcp_config(echo.port, idle_timeout="0.6s"))
    with socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=5) as sock:
        for _ in range(6):
            sock.sendall(b"x")
            assert sock.recv(10) == b"x"
            time.sleep(0.3)
