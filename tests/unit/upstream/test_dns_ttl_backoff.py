"""respect_dns_ttl, dns_failure_refresh_rate and named resolvers (upstream/discovery/): answers
from a tiny DNS server on 127.0.0.1 built with dnspython, the next refresh at the record's TTL,
and Envoy's jittered exponential back-off after failures."""
import random
import socket
import threading

import dns.message
import dns.rcode
import dns.rrset

from hotproxy.config.cluster import Cluster as ClusterConfig, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import SocketAddress
from hotproxy.stats.store import StatsStore
from hotproxy.upstream.discovery import dns_query
from hotproxy.upstream.discovery.dns import resolve_cluster_ttl
from hotproxy.upstream.discovery.resolver import ClusterResolver, FailureBackOff


class FakeDns:
    """Answers A/AAAA queries from ``records`` ({name: (rdtype, [ip], ttl)}); NXDOMAIN for other
    names, SERVFAIL for names in ``failing``."""

    def __init__(self, records):
        self.records, self.failing, self.queries = records, set(), []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            query = dns.message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True)
            self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
            response = dns.message.make_response(query)
            if name in self.failing:
                response.set_rcode(dns.rcode.SERVFAIL)
            elif name not in self.records:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                rdtype, ips, ttl = self.records[name]
                if dns.rdatatype.to_text(question.rdtype) == rdtype:
                    response.answer.append(dns.rrset.from_text(question.name, ttl, "IN", rdtype, *ips))
            self.sock.sendto(response.to_wire(), peer)

    def close(self):
        self.sock.close()


def config(server, name="svc.test", **fields):
    endpoints = (LocalityLbEndpoints((LbEndpoint(SocketAddress(name, 8080)),)),)
    return ClusterConfig(**{"name": "d", "type": "STRICT_DNS", "endpoints": endpoints,
                            "dns_resolvers": (server.address,), **fields})


def test_answers_come_with_their_ttl_from_the_named_resolver():
    server = FakeDns({"svc.test": ("A", ["10.0.0.1", "10.0.0.2"], 7)})
    try:
        entries, ttl = resolve_cluster_ttl(config(server, dns_lookup_family="V4_ONLY"))
        assert sorted(entries) == [["10.0.0.1", 8080, 0], ["10.0.0.2", 8080, 0]] and ttl == 7
        # AUTO asks AAAA first, then A when there is none
        entries, ttl = resolve_cluster_ttl(config(server))
        assert sorted(entries) == [["10.0.0.1", 8080, 0], ["10.0.0.2", 8080, 0]] and ttl == 7
        assert server.queries[-2:] == [("svc.test", "AAAA"), ("svc.test", "A")]
    finally:
        server.close()


def test_nxdomain_is_an_empty_answer_and_servfail_a_failure():
    server = FakeDns({})
    server.failing.add("broken.test")
    try:
        assert resolve_cluster_ttl(config(server, name="gone.test")) == ([], None)
        try:
            resolve_cluster_ttl(config(server, name="broken.test"))
        except OSError as exc:
            assert "SERVFAIL" in str(exc)
        else:
            raise AssertionError("SERVFAIL must fail the resolution")
    finally:
        server.close()


def test_a_name_in_the_hosts_file_is_answered_by_getaddrinfo(tmp_path, monkeypatch):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost  # the usual\n10.9.9.9 other.test\n")
    assert dns_query.in_hosts_file("localhost", str(hosts))
    assert dns_query.in_hosts_file("other.test", str(hosts))
    assert not dns_query.in_hosts_file("the", str(hosts))
    server = FakeDns({})
    try:
        entries, ttl = resolve_cluster_ttl(config(server, name="localhost", dns_lookup_family="V4_ONLY"))
        assert entries == [["127.0.0.1", 8080, 0]] and ttl is None and server.queries == []
    finally:
        server.close()


def test_the_next_refresh_is_at_the_ttl_only_with_respect_dns_ttl():
    server = FakeDns({"svc.test": ("A", ["10.0.0.1"], 42)})
    try:
        respecting = ClusterResolver(config(server, respect_dns_ttl=True, dns_lookup_family="V4_ONLY"),
                                     StatsStore())
        assert respecting.refresh() == 42.0 and respecting.entries == [["10.0.0.1", 8080, 0]]
        plain = ClusterResolver(config(server, dns_refresh_rate=3.0, dns_lookup_family="V4_ONLY"), StatsStore())
        assert plain.refresh() == 3.0
        # a TTL of 0 keeps dns_refresh_rate, as Envoy does
        server.records["svc.test"] = ("A", ["10.0.0.1"], 0)
        zero = ClusterResolver(config(server, respect_dns_ttl=True, dns_refresh_rate=3.0,
                                      dns_lookup_family="V4_ONLY"), StatsStore())
        assert zero.refresh() == 3.0
    finally:
        server.close()


def test_failures_back_off_jittered_and_exponentially_then_a_success_resets():
    server = FakeDns({"svc.test": ("A", ["10.0.0.1"], 30)})
    server.failing.add("svc.test")
    try:
        resolver = ClusterResolver(config(server, dns_failure_refresh_rate=(1.0, 4.0), dns_refresh_rate=5.0,
                                          dns_lookup_family="V4_ONLY"), StatsStore())
        resolver.backoff = FailureBackOff(resolver.cluster, rng=random.Random(5))
        waits = [resolver.refresh() for _ in range(5)]
        # each wait is below 1 s, 2 s, 4 s, 4 s, 4 s
        assert all(0 <= wait < bound for wait, bound in zip(waits, (1, 2, 4, 4, 4))), waits
        server.failing.clear()
        assert resolver.refresh() == 5.0
        server.failing.add("svc.test")
        assert resolver.refresh() < 1.0
    finally:
        server.close()


def test_without_dns_failure_refresh_rate_a_failure_waits_dns_refresh_rate():
    backoff = FailureBackOff(ClusterConfig(name="d", dns_refresh_rate=2.5))
    assert [backoff.next(), backoff.next()] == [2.5, 2.5]


def test_the_sequence_of_bounds_matches_envoys_strategy():
    class Highest:
        @staticmethod
        def randrange(bound):
            return bound - 1
    backoff = FailureBackOff(ClusterConfig(name="d", dns_failure_refresh_rate=(0.5, 3.0)), rng=Highest())
    assert [backoff.next() for _ in range(5)] == [0.499, 0.999, 1.999, 2.999, 2.999]
