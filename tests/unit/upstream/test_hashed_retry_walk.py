"""A hashed retry moves on: RING_HASH and MAGLEV pick for a host-selection ``attempt`` as Envoy's
chooseHost(hash, attempt) does (the ring's entry ``attempt`` places on; the Maglev key xor
2**64 - attempt), and host_choice.pick_host walks them while previous_hosts rejects the pick."""
import random
from types import SimpleNamespace

import pytest
import xxhash

from hotproxy.config.cluster import Cluster as ClusterConfig, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import SocketAddress
from hotproxy.http.router.host_choice import pick_host
from hotproxy.upstream.cluster import Cluster
from hotproxy.upstream.host import Host
from hotproxy.upstream.lb.maglev import MaglevLoadBalancer
from hotproxy.upstream.lb.ring_hash import RingHashLoadBalancer, ring_index

HOSTS = [Host(("127.0.0.1", port)) for port in (19181, 19182, 19184)]
KEYS = [xxhash.xxh64_intdigest(b"key%d" % i) for i in range(64)]


def test_the_ring_walks_attempt_entries_on_and_wraps():
    balancer = RingHashLoadBalancer(HOSTS, random.Random(1), minimum_ring_size=16)
    hashes, owners = balancer._hashes, balancer._hosts
    for key in KEYS:
        index = ring_index(hashes, key)
        assert balancer.pick(key) is balancer.pick(key, 0) is owners[index]
        for attempt in (1, 2, len(hashes) + 3):
            assert balancer.pick(key, attempt) is owners[(index + attempt) % len(hashes)]


def test_maglev_flips_the_key_by_attempt():
    balancer = MaglevLoadBalancer(HOSTS, random.Random(1), table_size=307)
    table = balancer._table
    for key in KEYS:
        assert balancer.pick(key, 0) is table[key % 307]
        assert balancer.pick(key, 1) is table[(key ^ (2**64 - 1)) % 307]
        assert balancer.pick(key, 3) is table[(key ^ (2**64 - 3)) % 307]


def cluster(policy, priorities=1):
    endpoints = tuple(LocalityLbEndpoints((LbEndpoint(SocketAddress(h.address[0], h.address[1])),),
                                          priority=i % priorities)
                      for i, h in enumerate(HOSTS))
    return Cluster(ClusterConfig(name="c", lb_policy=policy, endpoints=endpoints, minimum_ring_size=16,
                                 maglev_table_size=307))


def state(attempted, attempts=1):
    policy = SimpleNamespace(host_selection_attempts=attempts)
    return SimpleNamespace(policy=policy, accepts=lambda host: host not in attempted)


@pytest.mark.parametrize("policy", ["RING_HASH", "MAGLEV"])
def test_a_retry_with_previous_hosts_takes_the_next_pick_of_the_same_key(policy):
    found = cluster(policy)
    assert found.hashing
    balancer = found._lb
    for key in KEYS:
        first = found.pick_host(key)
        expected = balancer.pick(key, 1)
        assert pick_host(found, state([first]), key) is expected
        # with more host-selection attempts the walk goes on until another host
        walked = next(balancer.pick(key, a) for a in range(1, 6) if balancer.pick(key, a) is not first)
        assert pick_host(found, state([first], attempts=5), key) is walked
        # a pick nobody rejected is the key's host
        assert pick_host(found, state([]), key) is first


def test_hashed_priorities_and_panic_pass_the_attempt_on():
    found = cluster("RING_HASH", priorities=2)
    key = KEYS[0]
    index = 0      # all of priority 0's load: every host healthy
    balancer = found._lbs[index]
    assert found.pick_host(key, None, None, 2) is balancer.pick(key, 2)
    found = cluster("MAGLEV")
    found._set_pick(True)       # panic
    assert found.pick_host(key, None, None, 1) is found._lb.pick(key, 1)
    assert found.health_stats.lb_healthy_panic == 1


def test_other_policies_pick_again_without_an_attempt():
    found = cluster("ROUND_ROBIN")
    assert not found.hashing
    first = found.pick_host()
    assert pick_host(found, state([first]), None) is not first


def test_maglev_fills_its_table_in_address_order_whatever_the_config_order():
    """Envoy sorts the hosts by "ip:port" before filling (maglev_lb.cc); found by
    tests/integration/test_hashed_retry_ring.py against Envoy 1.40 with unordered ports."""
    hosts = [Host(("127.0.0.1", port)) for port in (46089, 50693, 42373)]
    forward = MaglevLoadBalancer(hosts, random.Random(1), table_size=307)
    backward = MaglevLoadBalancer(hosts[::-1], random.Random(1), table_size=307)
    assert [h.address for h in forward._table] == [h.address for h in backward._table]
    # user7 went to 42373, its retry to 50693, on Envoy 1.40
    key = xxhash.xxh64_intdigest(b"user7")
    assert forward.pick(key).address[1] == 42373
    assert next(forward.pick(key, a) for a in range(1, 6) if forward.pick(key, a).address[1] != 42373).address[1] == 50693
