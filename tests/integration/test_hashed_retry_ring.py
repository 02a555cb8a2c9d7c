"""A hashed retry moves to the next ring entry (RING_HASH) or the flipped key's slot (MAGLEV),
as Envoy's chooseHost(hash, attempt) with previous_hosts: for each key, hotproxy and Envoy 1.40
send the retry of a request its host failed to the host hotproxy's own balancer computes for
the host-selection attempts (the first pick is checked against it too)."""
import random

import pytest
import xxhash

from harness import ScriptedUpstream, RawClient, http_listener, simple_routes, to_yaml
from hotproxy.upstream.host import Host
from hotproxy.upstream.lb.maglev import MaglevLoadBalancer
from hotproxy.upstream.lb.ring_hash import RingHashLoadBalancer

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
PREVIOUS_HOSTS = {"name": "envoy.retry_host_predicates.previous_hosts", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"}}
SELECTION_ATTEMPTS = 5
KEYS = [f"user{i}" for i in range(12)]


class Named:
    """Answers its name, or 503 to a request whose x-fail names it."""

    def __init__(self, name):
        self.name = name
        self.upstream = ScriptedUpstream(self._serve)
        self.port = self.upstream.port

    def _serve(self, upstream, conn):
        while True:
            request = upstream.read_request(conn)
            if not request:
                return
            failing = b"\r\nx-fail: " + self.name.encode() + b"\r\n" in request.lower()
            status = b"503 Service Unavailable" if failing else b"200 OK"
            conn.sendall(b"HTTP/1.1 %s\r\ncontent-length: %d\r\n\r\n%s"
                         % (status, len(self.name), self.name.encode()))


def config(policy, servers):
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": s.port}}}}
                 for s in servers]
    route = {"cluster": "backend", "hash_policy": [{"header": {"header_name": "x-key"}}],
             "retry_policy": {"retry_on": "5xx", "num_retries": 1, "retry_host_predicate": [PREVIOUS_HOSTS],
                              "host_selection_retry_max_attempts": SELECTION_ATTEMPTS}}
    cluster = {"name": "backend", "connect_timeout": "1s", "lb_policy": policy,
               "ring_hash_lb_config": {"minimum_ring_size": 64} if policy == "RING_HASH" else None,
               "maglev_lb_config": {"table_size": 307} if policy == "MAGLEV" else None,
               "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": endpoints}]}}
    cluster = {k: v for k, v in cluster.items() if v is not None}
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", simple_routes({"match": {"prefix": "/"}, "route": route}))],
        "clusters": [cluster]}})


def expected_picks(policy, servers):
    hosts = [Host(("127.0.0.1", s.port)) for s in servers]
    names = {id(h): s.name for h, s in zip(hosts, servers)}
    balancer = (RingHashLoadBalancer(hosts, random.Random(1), 64) if policy == "RING_HASH" else
                MaglevLoadBalancer(hosts, random.Random(1), 307))
    picks = {}
    for key in KEYS:
        hashed = xxhash.xxh64_intdigest(key.encode())
        first = balancer.pick(hashed)
        retry = first
        for attempt in range(1, SELECTION_ATTEMPTS + 1):
            retry = balancer.pick(hashed, attempt)
            if retry is not first:
                break
        picks[key] = (names[id(first)], names[id(retry)], 503 if retry is first else 200)
    return picks


@pytest.mark.parametrize("policy", ["RING_HASH", "MAGLEV"])
def test_a_hashed_retry_walks_on_as_envoy(peer_factory, policy):
    servers = [Named(f"s{i}") for i in range(3)]
    peer = peer_factory(config(policy, servers))
    found = {}
    for key in KEYS:
        client = RawClient(peer.port("listen"))
        try:
            first = client.request(headers=(("Host", "test"), ("x-key", key)))
            retried = client.request(headers=(("Host", "test"), ("x-key", key), ("x-fail", first.body.decode())))
        finally:
            client.sock.close()
        assert first.status == 200
        # 503: every attempt of the walk came back to the failing host, which then stands
        found[key] = (first.body.decode(), retried.body.decode(), retried.status)
    assert found == expected_picks(policy, servers), [s.port for s in servers]
