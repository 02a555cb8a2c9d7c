"""The RBAC network filter and the network-filter seam, sans-IO."""
from types import SimpleNamespace

from hotproxy.config.fields import Context, Node
from hotproxy.config.parse_rbac import network_rbac
from hotproxy.listener.filter_chain_match import Connection
from hotproxy.network.filters import ClientAddress, FilterContext, FilteredTerminal, build_filters
from hotproxy.stats.schema import TcpStats


def built(**config):
    node = Node({"stat_prefix": "tcp_rbac", **config}, "typed_config", Context())
    parsed = network_rbac(node)
    assert not node.ctx.problems, node.ctx.problems
    (rbac,) = build_filters([parsed], FilterContext("listener", 0))
    return rbac


class Terminal:
    def __init__(self):
        self.stats = TcpStats()
        self.served = []

    def serve(self, sock, address, tls=None):
        self.served.append((address, tls))


FOUND = Connection("10.0.0.2", 9000, "192.168.0.7", 5555, direct_source_ip="172.16.0.1",
                   server_name="db.example.com")
ONLY_DB = {"policies": {"db": {"permissions": [{"requested_server_name": {"exact": "db.example.com"}}],
                               "principals": [{"direct_remote_ip": {"address_prefix": "172.16.0.0",
                                                                    "prefix_len": 12}}]}}}


def test_allowed_connections_reach_the_terminal():
    rbac = built(rules=ONLY_DB)
    terminal = Terminal()
    filtered = FilteredTerminal([rbac], terminal)
    filtered.serve(None, ClientAddress(("192.168.0.7", 5555), FOUND))
    assert terminal.served == [(("192.168.0.7", 5555), None)]
    assert type(terminal.served[0][0]) is tuple
    assert (rbac.stats.allowed, rbac.stats.denied) == (1, 0)


def test_denied_connections_are_closed_and_counted():
    rbac = built(rules={"action": "DENY", **ONLY_DB})
    terminal = Terminal()
    FilteredTerminal([rbac], terminal).serve(None, ClientAddress(("192.168.0.7", 5555), FOUND))
    assert terminal.served == []
    assert (rbac.stats.allowed, rbac.stats.denied) == (0, 1)
    assert terminal.stats.downstream_cx_total == 1


def test_shadow_only_counts():
    rbac = built(shadow_rules=ONLY_DB, shadow_rules_stat_prefix="sh_")
    terminal = Terminal()
    other = Connection("10.0.0.2", 9000, "192.168.0.7", 5555)
    FilteredTerminal([rbac], terminal).serve(None, ClientAddress(("192.168.0.7", 5555), other))
    assert len(terminal.served) == 1
    assert (rbac.shadow_stats.shadow_allowed, rbac.shadow_stats.shadow_denied) == (0, 1)
    assert [prefix for prefix, _ in rbac.stat_sets()] == ["tcp_rbac.rbac.", "tcp_rbac.rbac.sh_."]


def test_the_local_address_comes_from_the_socket_without_listener_filters():
    rbac = built(rules={"policies": {"port": {"permissions": [{"destination_port": 9000}],
                                              "principals": [{"authenticated": {}}]}}})
    terminal = Terminal()
    sock = SimpleNamespace(getsockname=lambda: ("10.0.0.2", 9000))
    tls = SimpleNamespace(server_name=None, peer=None)
    FilteredTerminal([rbac], terminal).serve(sock, ("192.168.0.7", 5555), tls=tls)
    assert terminal.served == [(("192.168.0.7", 5555), tls)]
    FilteredTerminal([rbac], terminal).serve(sock, ("192.168.0.7", 5555))
    assert rbac.stats.denied == 1
