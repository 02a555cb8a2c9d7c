"""A STRICT_DNS cluster resolved through its own resolver (typed_dns_resolver_config's c-ares
``resolvers``): a tiny DNS server on 127.0.0.1 built with dnspython answers with a short TTL,
and with respect_dns_ttl the name is resolved again at that TTL (not at dns_refresh_rate), so a
changed answer moves the cluster's host. Against hotproxy and Envoy 1.40."""
import socket
import threading
import time
import urllib.request

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from harness import http_listener, simple_routes, to_yaml

CARES = "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"


class FakeDns:
    """Answers ``svc.test`` A queries with ``ips`` and ``ttl``; counts the queries."""

    def __init__(self, ips, ttl):
        self.ips, self.ttl, self.queries = list(ips), ttl, 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            query = dns.message.from_wire(data)
            question = query.question[0]
            response = dns.message.make_response(query)
            if question.name.to_text(omit_final_dot=True) != "svc.test":
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                self.queries += 1
                response.answer.append(dns.rrset.from_text(question.name, self.ttl, "IN", "A", *self.ips))
            self.sock.sendto(response.to_wire(), peer)

    def close(self):
        self.sock.close()


def config(dns_port, upstream_port, respect_dns_ttl):
    cluster = {"name": "svc", "connect_timeout": "1s", "type": "STRICT_DNS", "dns_refresh_rate": "60s",
               "dns_lookup_family": "V4_ONLY", "respect_dns_ttl": respect_dns_ttl,
               "dns_failure_refresh_rate": {"base_interval": "0.5s", "max_interval": "2s"},
               "typed_dns_resolver_config": {
                   "name": "envoy.network.dns_resolver.cares",
                   "typed_config": {"@type": CARES, "resolvers": [
                       {"socket_address": {"address": "127.0.0.1", "port_value": dns_port}}]}},
               "load_assignment": {"cluster_name": "svc", "endpoints": [{"lb_endpoints": [
                   {"endpoint": {"address": {"socket_address": {"address": "svc.test",
                                                                "port_value": upstream_port}}}}]}]}}
    route = {"match": {"prefix": "/"}, "route": {"cluster": "svc"}}
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [http_listener("http", "listen", simple_routes(route))],
                                         "clusters": [cluster]}})


def hosts(peer):
    with urllib.request.urlopen(f"http://127.0.0.1:{peer.port('admin')}/clusters", timeout=10) as response:
        return {line.split("::")[1] for line in response.read().decode().splitlines()
                if line.startswith("svc::") and "::cx_active::" in line}


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_ttl_sets_the_refresh_and_a_new_answer_moves_the_host(peer_factory):
    server = FakeDns(["127.0.0.1"], ttl=1)
    try:
        peer = peer_factory(config(server.port, 8080, True))
        wait_for(lambda: hosts(peer) == {"127.0.0.1:8080"}, 10, "the first answer")
        server.ips = ["127.0.0.2"]
        wait_for(lambda: hosts(peer) == {"127.0.0.2:8080"}, 5, "the new answer, at the TTL")
        assert server.queries >= 2
    finally:
        server.close()


def test_without_respect_dns_ttl_the_refresh_rate_holds(peer_factory):
    server = FakeDns(["127.0.0.1"], ttl=1)
    try:
        peer = peer_factory(config(server.port, 8080, False))
        wait_for(lambda: hosts(peer) == {"127.0.0.1:8080"}, 10, "the first answer")
        server.ips = ["127.0.0.2"]
        time.sleep(2.5)
        assert hosts(peer) == {"127.0.0.1:8080"} and server.queries == 1
    finally:
        server.close()
