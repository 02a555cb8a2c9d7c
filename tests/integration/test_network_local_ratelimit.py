"""The local_ratelimit network filter through real processes: a token per new connection, the
connection closed without one; one bucket for every worker; beside Envoy 1.40."""
import socket
import time

from harness import TCP_PROXY_TYPE, accept_each, static_cluster, to_yaml, workers

ADMIN = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}}
NETWORK_LRL = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit"


class Echo:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        accept_each(self.sock, self._echo)

    @staticmethod
    def _echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)


def tcp_config(echo_port, bucket, reuse_port=False, **fields):
    listener = {"name": "tcp",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                "filter_chains": [{"filters": [
                    {"name": "envoy.filters.network.local_ratelimit",
                     "typed_config": {"@type": NETWORK_LRL, "stat_prefix": "tcp_rl",
                                      "token_bucket": bucket, **fields}},
                    {"name": "envoy.filters.network.tcp_proxy",
                     "typed_config": {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend"}}]}]}
    if reuse_port:
        listener["enable_reuse_port"] = True
    return to_yaml({**ADMIN, "static_resources": {"listeners": [listener],
                                                  "clusters": [static_cluster("backend", echo_port)]}})


def exchange(port):
    """What comes back for b"ping" on a fresh connection (b"" when the proxy closes it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(b"ping")
            return sock.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            return b""


def wait_for(read, expected, timeout=5.0):
    deadline = time.monotonic() + timeout
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def test_connections_over_the_limit_are_closed(peer_factory):
    echo = Echo()
    peer = peer_factory(tcp_config(echo.port, {"max_tokens": 3, "fill_interval": "3600s"}))
    # the readiness probe's connection took a token
    answers = [exchange(peer.port("listen")) for _ in range(4)]
    assert answers == [b"ping", b"ping", b"", b""]
    assert wait_for(lambda: peer.counter("local_rate_limit.tcp_rl.rate_limited"), 2) == 2


def test_a_disabled_filter_lets_every_connection_in(peer_factory):
    echo = Echo()
    peer = peer_factory(tcp_config(echo.port, {"max_tokens": 1, "fill_interval": "3600s"},
                                   runtime_enabled={"runtime_key": "rl", "default_value": False}))
    assert [exchange(peer.port("listen")) for _ in range(3)] == [b"ping"] * 3


def test_the_bucket_holds_across_two_workers(proxy_factory):
    echo = Echo()
    proxy = proxy_factory(tcp_config(echo.port, {"max_tokens": 8, "fill_interval": "3600s"}, reuse_port=True),
                          extra_args=("--concurrency", "2"))
    answers = [exchange(proxy.port("listen")) for _ in range(30)]
    assert answers.count(b"ping") == 7            # 8 tokens, one for the readiness probe
    assert len(workers(proxy)) == 2
