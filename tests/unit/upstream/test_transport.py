"""Choosing a host's transport (transport_socket_matches, as Envoy's metadataLabelMatch) and the
PROXY protocol header the upstream PROXY protocol socket writes."""
from hotproxy.config.cluster import Cluster, TransportSocketMatch, UpstreamProxyProtocol
from hotproxy.config.tls import UpstreamTlsContext
from hotproxy.listener.filters.proxy_protocol import ProxyHeader, parse
from hotproxy.upstream.proxy_protocol import header
from hotproxy.upstream.transport import TransportSockets


def sockets(default=None, **matches):
    return TransportSockets(Cluster("c", transport_socket=default, transport_socket_matches=tuple(
        TransportSocketMatch(name, tuple(match.items()), socket) for name, (match, socket) in matches.items())))


def test_the_first_match_on_the_endpoint_wins_then_the_locality_then_the_default():
    chosen = sockets(UpstreamProxyProtocol("V2"),
                     tls=({"tls": True}, UpstreamTlsContext()),
                     legacy=({"tier": "legacy"}, UpstreamProxyProtocol("V1")))
    tls, legacy = (transport for _, _, transport in chosen.matches)
    assert chosen.for_host((("tls", True), ("tier", "legacy")), None) is tls
    assert chosen.for_host((("tier", "legacy"),), (("tls", True),)) is legacy
    assert chosen.for_host((("other", 1),), (("tls", True),)) is tls
    assert chosen.for_host(None, None) is chosen.default
    counts = chosen.match_counts
    assert (getattr(counts, "tls.total_match_count"), getattr(counts, "legacy.total_match_count"),
            getattr(counts, "default.total_match_count")) == (2, 1, 1)


def test_values_compare_as_protobuf_values():
    chosen = sockets(tls=({"tls": True, "n": 1}, UpstreamTlsContext()))
    assert chosen.for_host((("tls", True), ("n", 1.0)), None) is not chosen.default
    assert chosen.for_host((("tls", 1), ("n", 1)), None) is chosen.default      # 1 is not true
    assert chosen.for_host((("tls", True),), None) is chosen.default              # n is missing


def test_an_empty_match_holds_for_every_host():
    chosen = sockets(anything=({}, UpstreamTlsContext()))
    assert chosen.for_host(None, None) is not None and chosen.for_host(None, None).tls is not None


def test_tls_counters_are_shared_by_the_clusters_tls_transports():
    chosen = sockets(UpstreamTlsContext(), other=({"x": 1}, UpstreamProxyProtocol("V1", UpstreamTlsContext())))
    assert chosen.default.tls.stats is chosen.matches[0][2].tls.stats is chosen.tls_stats[0]
    assert sockets(UpstreamProxyProtocol("V1")).tls_stats is None
    assert sockets(UpstreamProxyProtocol("V1")).uses_proxy_protocol and not sockets().uses_proxy_protocol


def test_headers_announce_the_downstream_connection():
    source, destination = ("192.0.2.1", 5000), ("198.51.100.2", 443)
    assert header("V1", source, destination) == b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 443\r\n"
    assert parse(header("V2", source, destination)).source == source
    six = parse(header("V2", ("2001:db8::1", 1), ("2001:db8::2", 2)))
    assert (six.source, six.destination) == (("2001:db8::1", 1), ("2001:db8::2", 2))


def test_without_addresses_a_header_announces_nothing():
    assert header("V1", None, None) == b"PROXY UNKNOWN\r\n"
    local = parse(header("V2", None, None) + b"x")
    assert isinstance(local, ProxyHeader) and local.source is None and local.length == 16
    assert header("V1", ("192.0.2.1", 1), ("2001:db8::2", 2)) == b"PROXY UNKNOWN\r\n"   # mixed families
