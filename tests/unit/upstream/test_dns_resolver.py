"""The arbiter's per-cluster DNS resolution (upstream/discovery/resolver.py): counted as Envoy
counts DNS cluster updates, pushed to subscribers only when the membership changes."""
from hotproxy.config.cluster import Cluster as ClusterConfig, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import SocketAddress
from hotproxy.upstream.cluster import Cluster
from hotproxy.upstream.discovery.resolver import ClusterResolver, resolver_key
from hotproxy.stats.store import StatsStore


def config(**fields):
    endpoints = (LocalityLbEndpoints((LbEndpoint(SocketAddress("svc.test", 8080), load_balancing_weight=3),)),)
    return ClusterConfig(**{"name": "d", "type": "STRICT_DNS", "endpoints": endpoints, **fields})


class Answers:
    def __init__(self, *rounds):
        self.rounds = list(rounds)

    def __call__(self, cluster):
        answer = self.rounds.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def counters(stats):
    return {name.split(".", 2)[2]: value for name, value in stats.counters.items() if name.startswith("cluster.d.")}


def test_counts_like_envoy_and_pushes_only_changes():
    one, two = [["10.0.0.1", 8080, 0]], [["10.0.0.1", 8080, 0], ["10.0.0.2", 8080, 0]]
    stats = StatsStore()
    resolver = ClusterResolver(config(), stats, Answers(one, one, OSError("no answer"), two, []))
    seen = []
    resolver.subscribe(seen.append)
    for _ in range(5):
        resolver.refresh()
    assert seen == [one, two, []]
    assert counters(stats) == {"update_attempt": 5, "update_success": 4, "update_failure": 1,
                               "update_no_rebuild": 1, "membership_change": 3}


def test_an_empty_first_answer_is_no_membership_change_as_in_envoy():
    stats = StatsStore()
    resolver = ClusterResolver(config(), stats, Answers([], []))
    seen = []
    resolver.subscribe(seen.append)
    resolver.refresh()
    resolver.refresh()
    assert seen == [[]] and resolver.entries == []
    assert counters(stats) == {"update_attempt": 2, "update_success": 2, "update_failure": 0,
                               "update_no_rebuild": 2, "membership_change": 0}


def test_a_logical_dns_cluster_keeps_its_host_when_the_name_has_no_address():
    one = [["10.0.0.1", 8080, 0]]
    resolver = ClusterResolver(config(type="LOGICAL_DNS"), StatsStore(), Answers(one, []))
    resolver.refresh()
    resolver.refresh()
    assert resolver.entries == one


def test_a_failure_keeps_the_last_membership_and_a_late_subscriber_gets_it_at_once():
    one = [["10.0.0.1", 8080, 0]]
    resolver = ClusterResolver(config(), StatsStore(), Answers(one, OSError("down")))
    resolver.refresh()
    resolver.refresh()
    seen = []
    resolver.subscribe(seen.append)
    assert resolver.entries == one and seen == [one] and resolver.first_round.is_set()


def test_the_key_follows_the_discovery_settings():
    assert resolver_key(config()) == resolver_key(config())
    assert resolver_key(config()) != resolver_key(config(dns_refresh_rate=1.0))
    assert resolver_key(config()) != resolver_key(config(dns_lookup_family="V4_ONLY"))


def test_a_worker_cluster_builds_hosts_from_entries_and_keeps_the_pools_of_hosts_that_stay():
    cluster = Cluster(config())
    cluster.set_resolved([["10.0.0.1", 8080, 0]])
    first = cluster.hosts[0]
    assert (first.address, first.weight, first.hostname) == (("10.0.0.1", 8080), 3, "svc.test")
    pool = first.pool
    cluster.set_resolved([["10.0.0.1", 8080, 0], ["10.0.0.2", 8080, 0]])
    assert cluster.hosts[0] is first and first.pool is pool
    assert [h.address for h in cluster.hosts] == [("10.0.0.1", 8080), ("10.0.0.2", 8080)]
