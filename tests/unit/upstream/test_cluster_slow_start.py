"""A worker's cluster starts a host's slow start when it is added (no health checks) or when the
arbiter first reports it healthy, and keeps the start of a host that stays."""
from hotproxy.config.cluster import Cluster as ClusterConfig, LbEndpoint, LocalityLbEndpoints, SlowStart
from hotproxy.config.core import SocketAddress
from hotproxy.config.health_check import HealthCheck, HttpHealthCheck
from hotproxy.upstream.cluster import Cluster
from hotproxy.upstream.host import Host

CHECK = HealthCheck(timeout=1.0, interval=1.0, unhealthy_threshold=2, healthy_threshold=2,
                    http=HttpHealthCheck(path="/"))
A, B = ("10.0.0.1", 80), ("10.0.0.2", 80)


class Clock:
    now = 50.0

    def __call__(self):
        return self.now


def cluster(checked, slow_start=SlowStart(window=10.0), clock=None):
    config = ClusterConfig(name="c", endpoints=(LocalityLbEndpoints((LbEndpoint(SocketAddress(*A)),)),),
                           health_checks=(CHECK,) if checked else (), slow_start=slow_start)
    built = Cluster(config)
    if clock is not None:
        built._slow_start_clock = clock
    return built


def test_without_slow_start_no_host_is_stamped():
    assert cluster(False, slow_start=None).hosts[0].healthy_since is None


def test_added_hosts_start_when_added_and_staying_hosts_keep_their_start():
    clock = Clock()
    target = cluster(False, clock=clock)
    first = target.hosts[0]
    assert first.healthy_since is not None
    first.healthy_since = 1.0
    clock.now = 70.0
    target.set_hosts([Host(A), Host(B)])
    kept, added = target.hosts
    assert kept is first and kept.healthy_since == 1.0
    assert added.healthy_since == 70.0


def test_a_host_added_already_healthy_starts_when_added_and_an_unhealthy_one_waits():
    clock = Clock()
    target = cluster(True, clock=clock)
    target.set_health([A, B])
    clock.now = 80.0
    target.set_hosts([Host(A), Host(B), Host(("10.0.0.3", 80))])
    assert [host.healthy_since for host in target.hosts] == [50.0, 80.0, None]


def test_health_checked_hosts_start_when_they_turn_healthy():
    clock = Clock()
    target = cluster(True, clock=clock)
    host = target.hosts[0]
    assert host.healthy_since is None
    target.set_health([A])
    assert host.healthy_since == 50.0
    clock.now = 60.0
    target.set_health([A])              # still healthy: no restart
    assert host.healthy_since == 50.0
    target.set_health([])
    clock.now = 65.0
    target.set_health([A])              # healthy again: a new slow start, as Envoy's last_hc_pass_time
    assert host.healthy_since == 65.0
