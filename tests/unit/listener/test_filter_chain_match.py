"""Filter-chain selection against Envoy's precedence rules (FilterChainMatch documentation)."""
import ipaddress
from types import SimpleNamespace

from hotproxy.listener.filter_chain_match import Connection, FilterChainMatcher


def match(**fields):
    defaults = dict(destination_port=None, prefix_ranges=(), server_names=(), transport_protocol="",
                    application_protocols=(), direct_source_prefix_ranges=(), source_type="ANY",
                    source_prefix_ranges=(), source_ports=())
    for name in ("prefix_ranges", "direct_source_prefix_ranges", "source_prefix_ranges"):
        if name in fields:
            fields[name] = tuple(ipaddress.ip_network(value) for value in fields[name])
    return SimpleNamespace(**{**defaults, **fields})


def connection(**fields):
    defaults = dict(destination_ip="10.0.0.1", destination_port=443, source_ip="192.0.2.7", source_port=40000)
    return Connection(**{**defaults, **fields})


def select(chains, conn, default=None):
    return FilterChainMatcher([(match(**m), name) for name, m in chains], default).select(conn)


def test_server_names_exact_then_longest_wildcard_then_none():
    chains = [("exact", {"server_names": ["www.example.com"]}), ("wild", {"server_names": ["*.example.com"]}),
              ("tld", {"server_names": ["*.com"]}), ("any", {})]
    assert select(chains, connection(server_name="www.example.com")) == "exact"
    assert select(chains, connection(server_name="api.example.com")) == "wild"
    assert select(chains, connection(server_name="a.b.example.com")) == "wild"
    assert select(chains, connection(server_name="other.com")) == "tld"
    assert select(chains, connection(server_name="example.org")) == "any"
    assert select(chains, connection()) == "any"


def test_a_wildcard_does_not_match_its_own_suffix():
    assert select([("wild", {"server_names": ["*.example.com"]})], connection(server_name="example.com"),
                  default="default") == "default"


def test_destination_port_before_everything_and_no_going_back():
    chains = [("port", {"destination_port": 443, "server_names": ["a.com"]}), ("sni", {"server_names": ["b.com"]})]
    # the port-specific chain wins step one; its server name then fails: the default, not "sni"
    assert select(chains, connection(server_name="b.com"), default="default") == "default"
    assert select(chains, connection(server_name="b.com", destination_port=80)) == "sni"


def test_longest_destination_prefix():
    chains = [("wide", {"prefix_ranges": ["10.0.0.0/8"]}), ("narrow", {"prefix_ranges": ["10.0.0.0/24"]}),
              ("any", {})]
    assert select(chains, connection()) == "narrow"
    assert select(chains, connection(destination_ip="10.9.0.1")) == "wide"
    assert select(chains, connection(destination_ip="172.16.0.1")) == "any"


def test_transport_protocol():
    chains = [("tls", {"transport_protocol": "tls"}), ("plain", {"transport_protocol": "raw_buffer"})]
    assert select(chains, connection(transport_protocol="tls")) == "tls"
    assert select(chains, connection()) == "plain"


def test_application_protocols_follow_the_clients_order():
    chains = [("h2", {"application_protocols": ["h2"]}), ("h1", {"application_protocols": ["http/1.1"]}),
              ("none", {})]
    assert select(chains, connection(application_protocols=("h2", "http/1.1"))) == "h2"
    assert select(chains, connection(application_protocols=("http/1.1", "h2"))) == "h1"
    assert select(chains, connection(application_protocols=("acme-tls/1",))) == "none"


def test_source_type_and_prefixes_and_ports():
    chains = [("local", {"source_type": "SAME_IP_OR_LOOPBACK"}), ("external", {"source_type": "EXTERNAL"})]
    assert select(chains, connection(source_ip="127.0.0.1")) == "local"
    assert select(chains, connection(source_ip="10.0.0.1")) == "local"   # the same IP as the destination
    assert select(chains, connection()) == "external"
    chains = [("net", {"source_prefix_ranges": ["192.0.2.0/24"]}), ("any", {})]
    assert select(chains, connection()) == "net"
    assert select(chains, connection(source_ip="198.51.100.1")) == "any"
    chains = [("port", {"source_ports": [40000]}), ("any", {})]
    assert select(chains, connection()) == "port"
    assert select(chains, connection(source_port=1)) == "any"


def test_direct_source_is_the_peer_before_a_proxy_header():
    chains = [("balancer", {"direct_source_prefix_ranges": ["10.1.0.0/16"]}), ("any", {})]
    assert select(chains, connection(direct_source_ip="10.1.2.3", source_ip="192.0.2.7")) == "balancer"
    assert select(chains, connection(source_ip="10.1.2.3")) == "balancer"
    assert select(chains, connection()) == "any"


def test_ipv6_addresses_never_match_ipv4_ranges():
    chains = [("v4", {"prefix_ranges": ["0.0.0.0/0"]}), ("v6", {"prefix_ranges": ["::/0"]})]
    assert select(chains, connection(destination_ip="::1")) == "v6"


def test_no_match_is_the_default_or_none():
    chains = [("a", {"server_names": ["a.com"]})]
    assert select(chains, connection(server_name="b.com")) is None
    assert select(chains, connection(server_name="b.com"), default="d") == "d"
