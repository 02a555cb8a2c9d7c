"""The ORIGINAL_DST cluster (upstream/original_dst.py): hosts made on demand for the original
destination, from a request header or the address a listener filter restored, and swept away
once unused."""
import pytest

from hotproxy.config.cluster import Cluster as ClusterConfig, OriginalDstLbConfig, UpstreamBindConfig
from hotproxy.upstream import restored_destinations
from hotproxy.upstream.cluster import Cluster
from hotproxy.upstream.cluster_manager import ClusterManager
from hotproxy.upstream.original_dst import OriginalDstCluster, parse_ip_and_port

HEADER = b"x-envoy-original-dst-host"


class FakeSocket:
    """A downstream connection as the cluster sees it: its descriptor."""

    def __init__(self, descriptor, destination=None):
        self.descriptor = descriptor
        if destination is not None:
            restored_destinations.restore(descriptor, destination)

    def fileno(self):
        return self.descriptor

    def close(self):
        restored_destinations.forget(self.descriptor)


@pytest.fixture
def downstream():
    sockets = []

    def make(destination=None):
        sock = FakeSocket(1000 + len(sockets), destination)
        sockets.append(sock)
        return sock

    yield make
    for sock in sockets:
        sock.close()


def cluster(header=None, port=None, **fields):
    return OriginalDstCluster(ClusterConfig(
        name="passthrough", type="ORIGINAL_DST", lb_policy="CLUSTER_PROVIDED",
        original_dst_lb_config=OriginalDstLbConfig(header, port), **fields))


def test_the_cluster_manager_makes_original_dst_clusters_of_their_configs():
    manager = ClusterManager([ClusterConfig(name="passthrough", type="ORIGINAL_DST",
                                            lb_policy="CLUSTER_PROVIDED"), ClusterConfig(name="static")])
    assert isinstance(manager.get("passthrough"), OriginalDstCluster)
    assert type(manager.get("static")) is Cluster


def test_a_host_is_made_for_the_restored_destination_and_reused(downstream):
    od = cluster()
    assert od.hosts == []
    host = od.pick_host(None, downstream(("10.0.0.7", 8080)))
    assert host.address == ("10.0.0.7", 8080) and host.label == "10.0.0.7:8080"
    assert host.hostname == "passthrough10.0.0.7:8080"     # as Envoy names it
    assert host.pool is not None and host.pool.host is host
    assert od.pick_host(None, downstream(("10.0.0.7", 8080))) is host
    other = od.pick_host(12345, downstream(("10.0.0.8", 80)))
    assert od.hosts == [host, other]
    assert (od.stats.membership_total, od.stats.membership_healthy) == (2, 2)


def test_no_restored_destination_no_host(downstream):
    od = cluster()
    assert od.pick_host(None, downstream()) is None
    assert od.pick_host() is None
    assert od.hosts == []


def test_upstream_port_override_replaces_the_port(downstream):
    od = cluster(port=9090)
    assert od.pick_host(None, downstream(("10.0.0.7", 8080))).address == ("10.0.0.7", 9090)


def test_the_header_names_the_host_before_the_connection_does(downstream):
    od = cluster(header="x-envoy-original-dst-host")
    sock = downstream(("10.0.0.7", 8080))
    headers = [(b"host", b"a"), (HEADER, b"10.1.1.1:81"), (HEADER, b"10.2.2.2:82")]
    assert od.pick_host(None, sock, headers).address == ("10.1.1.1", 81)      # the first value
    assert od.pick_host(None, sock, [(b"host", b"a")]).address == ("10.0.0.7", 8080)
    assert od.original_dst_stats.original_dst_host_invalid == 0


def test_an_invalid_header_is_counted_and_the_connection_decides(downstream):
    od = cluster(header="x-up")
    assert od.pick_host(None, downstream(("10.0.0.7", 8080)), [(b"x-up", b"bogus")]).address == ("10.0.0.7", 8080)
    assert od.pick_host(None, downstream(), [(b"x-up", b"10.0.0.1")]) is None
    assert od.original_dst_stats.original_dst_host_invalid == 2
    assert od.lb_stats == ("", od.original_dst_stats)    # reported as cluster.<name>.original_dst_host_invalid


def test_without_use_http_header_the_header_is_ignored(downstream):
    od = cluster()
    assert od.pick_host(None, downstream(), [(HEADER, b"10.1.1.1:81")]) is None


def test_a_sweep_forgets_hosts_unused_since_the_previous_one(downstream):
    od = cluster()
    kept = od.pick_host(None, downstream(("10.0.0.1", 80)))
    gone = od.pick_host(None, downstream(("10.0.0.2", 80)))
    busy = od.pick_host(None, downstream(("10.0.0.3", 80)))
    od.sweep()                                  # all picked since the start: all kept
    assert od.hosts == [kept, gone, busy]
    assert od.pick_host(None, downstream(("10.0.0.1", 80))) is kept
    busy.active_requests = 1                    # a TCP session or a request in flight
    od.sweep()
    assert od.hosts == [kept, busy]
    assert gone.pool.closed
    assert od.stats.membership_total == 2
    busy.active_requests = 0
    od.sweep()
    od.sweep()
    assert od.hosts == []
    fresh = od.pick_host(None, downstream(("10.0.0.2", 80)))
    assert fresh is not gone and od.hosts == [fresh]


def test_pools_bind_to_the_upstream_bind_config(downstream):
    bind = UpstreamBindConfig(("127.0.0.9", 0), True)
    od = cluster(upstream_bind_config=bind)
    assert od.pick_host(None, downstream(("10.0.0.7", 80))).pool.bind == bind


def test_other_clusters_take_and_ignore_the_downstream_and_headers():
    static = Cluster(ClusterConfig(name="static"))
    assert static.pick_host(None, FakeSocket(5), [(HEADER, b"10.1.1.1:81")]) is None


def test_membership_is_never_set_from_outside():
    with pytest.raises(TypeError):
        cluster().set_hosts([])


@pytest.mark.parametrize("value, expected", [
    (b"10.1.2.3:80", ("10.1.2.3", 80)),
    (b"[::1]:8080", ("::1", 8080)),
    (b"[2001:DB8:0:0::1]:1", ("2001:db8::1", 1)),
    (b"127.0.0.1:0", ("127.0.0.1", 0)),
    (b"127.0.0.1:65535", ("127.0.0.1", 65535)),
    (b"127.0.0.1:65536", None),
    (b"127.0.0.1", None),
    (b"127.0.0.1:", None),
    (b"127.0.0.1:+80", None),
    (b"host.example:80", None),
    (b"::1:80", None),
    (b"[127.0.0.1]:80", None),
    (b"[::1]", None),
    (b"1.2.3:80", None),
    (b"\xff:80", None),
    (b"", None),
])
def test_parse_ip_and_port(value, expected):
    assert parse_ip_and_port(value) == expected
