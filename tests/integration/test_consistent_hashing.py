"""RING_HASH and MAGLEV through real processes: the TCP proxy's source_ip hash sends every
connection from 127.0.0.1 to one host, the same from every worker (--concurrency 2, connections
spread by SO_REUSEPORT) and after a reload, and the one Envoy's ring or table gives
(tests/unit/upstream/test_hashing_lb.py holds the lookups to Envoy 1.40's picks)."""
import socket

import pytest
import xxhash

from harness import TCP_PROXY_TYPE, accept_each, admin_stats, reload, rewrite, to_yaml
from hotproxy.upstream.host import Host
from hotproxy.upstream.lb import make_load_balancer

CONNECTIONS = 30


class NamedServer:
    def __init__(self, name):
        self.name = name
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        accept_each(self.sock, self._answer)

    def _answer(self, conn):
        with conn:
            conn.sendall(self.name.encode())


def config(policy, servers, idle_timeout="60s"):
    proxy = {"@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "backend",
             "hash_policy": [{"source_ip": {}}], "idle_timeout": idle_timeout}
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": s.port}}}}
                 for s in servers]
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {
        "listeners": [{"name": "tcp", "enable_reuse_port": True,
                       "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen}"}},
                       "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                                                       "typed_config": proxy}]}]}],
        "clusters": [{"name": "backend", "connect_timeout": "1s", "lb_policy": policy,
                      "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": endpoints}]}}]}})


def answers(proxy):
    names = set()
    for _ in range(CONNECTIONS):
        with socket.create_connection(("127.0.0.1", proxy.port("listen")), timeout=5) as sock:
            data = b""
            while piece := sock.recv(64):
                data += piece
            names.add(data.decode())
    return names


@pytest.mark.parametrize("policy", ["RING_HASH", "MAGLEV"])
def test_a_source_address_goes_to_one_host_from_every_worker_and_after_a_reload(proxy_factory, policy):
    servers = [NamedServer(f"s{i}") for i in range(4)]
    proxy = proxy_factory(config(policy, servers), extra_args=("--concurrency", "2"))
    balancer = make_load_balancer(policy, [Host(("127.0.0.1", s.port)) for s in servers])
    chosen = balancer.pick(xxhash.xxh64_intdigest(b"127.0.0.1"))
    expected = {servers[[s.port for s in servers].index(chosen.address[1])].name}
    assert answers(proxy) == expected
    rewrite(proxy, config(policy, servers, idle_timeout="61s"))
    reload(proxy, 1)
    assert answers(proxy) == expected
    stats = admin_stats(proxy.port("admin"), "^cluster.backend.(ring_hash|maglev)_lb.")
    if policy == "RING_HASH":        # four hosts of one weight: 256 entries each
        assert stats == {"cluster.backend.ring_hash_lb.size": 1024,
                         "cluster.backend.ring_hash_lb.min_hashes_per_host": 256,
                         "cluster.backend.ring_hash_lb.max_hashes_per_host": 256}
    else:                            # 65537 slots over four hosts
        assert stats == {"cluster.backend.maglev_lb.min_entries_per_host": 16384,
                         "cluster.backend.maglev_lb.max_entries_per_host": 16385}
