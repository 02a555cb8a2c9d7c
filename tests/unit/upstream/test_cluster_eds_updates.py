"""An EDS cluster's membership replaced in place (Cluster.set_endpoints): hosts that stay keep
their pools, new ones get theirs, and priorities follow the update."""
from collections import Counter

from hotproxy.config.resources import parse_resource
from hotproxy.config.cluster import Cluster as ClusterConfig
from hotproxy.config.xds import ConfigSource, Eds
from hotproxy.upstream.cluster import Cluster

CONFIG = ClusterConfig(name="svc", type="EDS", eds=Eds("svc", ConfigSource(ads=True)))


def endpoints(*localities):
    """``localities``: (priority, [port, ...]) pairs, hosts on 127.0.0.1."""
    body = {"cluster_name": "svc", "endpoints": [
        {"priority": priority, "lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
            for port in ports]} for priority, ports in localities]}
    return parse_resource("endpoints", body)[0]


def ports_picked(cluster, times=300):
    return Counter(cluster.pick_host().address[1] for _ in range(times))


def test_an_eds_cluster_has_no_host_before_its_first_update():
    assert Cluster(CONFIG).pick_host() is None


def test_hosts_that_stay_keep_their_pools():
    cluster = Cluster(CONFIG)
    cluster.set_endpoints(endpoints((0, [1001, 1002])))
    pools = {host.address[1]: host.pool for host in cluster.hosts}
    cluster.set_endpoints(endpoints((0, [1002, 1003])))
    assert [host.address[1] for host in cluster.hosts] == [1002, 1003]
    assert cluster.hosts[0].pool is pools[1002]
    assert cluster.hosts[1].pool is not None and cluster.hosts[1].pool is not pools[1001]
    assert set(ports_picked(cluster)) == {1002, 1003}
    assert cluster.stats.membership_total == 2


def test_an_update_that_adds_a_priority_rebuilds_the_balancers():
    cluster = Cluster(CONFIG)
    cluster.set_endpoints(endpoints((0, [1001])))
    cluster.set_endpoints(endpoints((0, [1001]), (1, [1002])))
    assert set(ports_picked(cluster)) == {1001}     # priority 0 is healthy: it takes everything
    cluster.set_endpoints(endpoints((0, []), (1, [1001, 1002])))
    assert set(ports_picked(cluster)) == {1001, 1002}
    assert cluster.hosts[0].priority == 1           # a host that stayed moved priority
    cluster.set_endpoints(endpoints((0, [1003])))
    assert set(ports_picked(cluster)) == {1003}


def test_an_empty_update_leaves_no_host():
    cluster = Cluster(CONFIG)
    cluster.set_endpoints(endpoints((0, [1001])))
    cluster.set_endpoints(())
    assert cluster.pick_host() is None and cluster.hosts == []


def test_endpoints_the_control_plane_calls_unhealthy_or_draining_take_no_traffic():
    body = {"cluster_name": "svc", "endpoints": [{"lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}},
         "health_status": status}
        for port, status in ((1001, "HEALTHY"), (1002, "UNHEALTHY"), (1003, "DRAINING"),
                             (1004, "DEGRADED"), (1005, "UNKNOWN"))]}]}
    cluster = Cluster(CONFIG)
    cluster.set_endpoints(parse_resource("endpoints", body)[0])
    assert set(ports_picked(cluster)) == {1001, 1004, 1005}
