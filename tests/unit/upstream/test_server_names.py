"""The SNI and SAN a request names for its upstream TLS connection (auto_sni, auto_san_validation,
override_auto_sni_header), as Envoy's router derives them."""
from dataclasses import dataclass

import pytest

from hotproxy.upstream.connect import ConnectOptions as RequestNames
from hotproxy.upstream.server_names import NamesFromRequest, authority_host


@dataclass
class Options:
    auto_sni: bool = True
    auto_san_validation: bool = False
    override_auto_sni_header: str = ""


@pytest.mark.parametrize("authority, expected", [
    ("example.com", ("example.com", False)),
    ("example.com:8443", ("example.com", False)),
    ("127.0.0.1", ("127.0.0.1", True)),
    ("127.0.0.1:80", ("127.0.0.1", True)),
    ("[::1]:443", ("::1", True)),
    ("[::1]", ("::1", True)),
    ("::1", ("::1", True)),
    ("example.com:port", ("example.com:port", False)),
])
def test_the_host_of_an_authority(authority, expected):
    assert authority_host(authority) == expected


def test_auto_sni_takes_the_host_without_its_port():
    assert NamesFromRequest(Options())(b"api.example.com:8443", []) == RequestNames(sni="api.example.com")


def test_an_ip_address_is_never_sent_as_sni_but_is_verified_as_a_san():
    assert NamesFromRequest(Options())(b"10.0.0.1:80", []) is None
    assert NamesFromRequest(Options(auto_san_validation=True))(b"10.0.0.1:80", []) == RequestNames(san="10.0.0.1")


def test_auto_san_validation_alone_names_only_the_san():
    names = NamesFromRequest(Options(auto_sni=False, auto_san_validation=True))
    assert names(b"a.example.com", []) == RequestNames(san="a.example.com")


def test_the_override_header_wins_when_present():
    names = NamesFromRequest(Options(override_auto_sni_header="x-sni"))
    assert names(b"front.example.com", [(b"x-sni", b"back.example.com")]) == RequestNames(sni="back.example.com")
    assert names(b"front.example.com", [(b"other", b"x")]) == RequestNames(sni="front.example.com")


def test_a_request_without_a_host_names_nothing():
    assert NamesFromRequest(Options())(None, []) is None
    assert NamesFromRequest(Options())(b"", []) is None


def test_names_key_pools_by_value():
    assert {RequestNames(sni="a"): 1}[RequestNames(sni="a")] == 1


def test_a_host_keeps_a_bounded_number_of_pools_by_options():
    from hotproxy.config.cluster import Cluster as ClusterConfig
    from hotproxy.config.tls import UpstreamTlsContext
    from hotproxy.upstream.cluster import MAX_POOLS_BY_OPTIONS, Cluster
    from hotproxy.upstream.host import Host

    cluster = Cluster(ClusterConfig("c", transport_socket=UpstreamTlsContext(), auto_sni=True))
    host = Host(("127.0.0.1", 1))
    cluster.set_hosts([host])
    first = cluster.pool_for_request(host, b"n0.example.com", [], None)
    assert cluster.pool_for_request(host, b"n0.example.com:443", [], None) is first
    assert cluster.pool_for_request(host, b"10.0.0.1", [], None) is host.pool    # no SNI for an IP
    for index in range(1, MAX_POOLS_BY_OPTIONS + 1):
        cluster.pool_for_request(host, b"n%d.example.com" % index, [], None)
    assert len(host.pools_by_options) == MAX_POOLS_BY_OPTIONS and first.closed
    assert len(list(host.pools())) == MAX_POOLS_BY_OPTIONS + 1      # and the host's own pool
