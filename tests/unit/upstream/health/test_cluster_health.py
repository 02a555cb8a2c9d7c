"""A worker's cluster balances over the hosts the arbiter reports healthy, and over all of them
(counting lb_healthy_panic) while fewer than half are."""
from hotproxy.config.cluster import Cluster as ClusterConfig, LbEndpoint, LocalityLbEndpoints
from hotproxy.config.core import SocketAddress
from hotproxy.config.health_check import HealthCheck, HttpHealthCheck
from hotproxy.upstream.cluster import Cluster

CHECK = HealthCheck(timeout=1.0, interval=1.0, unhealthy_threshold=2, healthy_threshold=2,
                    http=HttpHealthCheck(path="/"))
A, B, C, D = (("10.0.0.1", 80), ("10.0.0.2", 80), ("10.0.0.3", 80), ("10.0.0.4", 80))


def cluster(*addresses, checked=True):
    endpoints = tuple(LbEndpoint(SocketAddress(ip, port)) for ip, port in addresses)
    return Cluster(ClusterConfig(name="c", endpoints=(LocalityLbEndpoints(endpoints),),
                                 health_checks=(CHECK,) if checked else ()))


def picks(target, count=40):
    return {target.pick_host().address for _ in range(count)}


def test_without_health_checks_every_host_is_healthy_and_nothing_changes_per_pick():
    target = cluster(A, B, checked=False)
    assert target.stats.membership_healthy == 2 and target.stats.membership_total == 2
    assert picks(target) == {A, B}
    assert "pick_host" not in vars(target)


def test_only_healthy_hosts_are_picked():
    target = cluster(A, B, C, D)
    target.set_health([A, B, C])
    assert picks(target) == {A, B, C}
    assert target.stats.membership_healthy == 3 and target.stats.membership_total == 4
    assert target.health_stats.lb_healthy_panic == 0


def test_exactly_half_healthy_is_not_panic():
    target = cluster(A, B, C, D)
    target.set_health([A, B])
    assert picks(target) == {A, B}
    assert target.health_stats.lb_healthy_panic == 0


def test_below_half_healthy_balances_over_all_and_counts_panic():
    target = cluster(A, B, C)
    target.set_health([A])
    assert picks(target, 60) == {A, B, C}
    assert target.health_stats.lb_healthy_panic == 60
    target.set_health([A, B])
    assert picks(target) == {A, B}
    assert target.health_stats.lb_healthy_panic == 60


def test_until_the_arbiter_reports_no_host_is_healthy_so_all_are_used_in_panic():
    target = cluster(A, B)
    assert target.stats.membership_healthy == 0
    assert picks(target) == {A, B}
    assert target.health_stats.lb_healthy_panic == 40


def test_excluded_hosts_leave_the_share():
    target = cluster(A, B, C)
    target.set_health([A], excluded=[B, C])
    assert target.health_stats.membership_excluded == 2
    assert picks(target) == {A}
    assert target.health_stats.lb_healthy_panic == 0


def test_membership_changes_keep_the_health_filter():
    from hotproxy.upstream.host import Host
    target = cluster(A, B)
    target.set_health([A])   # 1 of 2: not panic
    target.set_hosts([Host(A), Host(B), Host(C), Host(D)])
    assert target.stats.membership_total == 4 and target.stats.membership_healthy == 1
    assert picks(target, 80) == {A, B, C, D}      # 1 of 4 healthy: panic
