"""A worker's runtime view of one cluster: its hosts, load balancer, pools and stats.

STATIC clusters know their hosts from the config. STRICT_DNS and LOGICAL_DNS clusters start with
no hosts and are filled by ``discovery.dns`` (which calls ``set_hosts``), as Envoy's are: a request
arriving before the first resolution gets "no healthy upstream".
"""
from __future__ import annotations

from ..stats.histogram import Recorder
from ..stats.schema import ClusterStats
from .host import Host
from .lb import make_load_balancer
from .pool import ConnectionPool
from .tls import UpstreamTls


class Cluster:
    def __init__(self, config):
        self.config = config
        self.name = config.name
        self.stats = ClusterStats()
        self.rq_time = Recorder()  # upstream_rq_time, ms
        self.hosts = []
        #: the cluster's TLS transport socket, or None for plain text
        self.tls = UpstreamTls(config.transport_socket) if config.transport_socket is not None else None
        self._lb = make_load_balancer(config.lb_policy, [], config.choice_count)
        if config.type == "STATIC":
            self.set_hosts([Host((ep.address.address, ep.address.port), ep.load_balancing_weight)
                            for ep in config.all_endpoints()])

    def __repr__(self):
        return f"<Cluster {self.name} {self.config.type} hosts={len(self.hosts)}>"

    def pick_host(self):
        """The next host by the cluster's LB policy, or None when it has none."""
        return self._lb.pick()

    def set_hosts(self, hosts):
        """Replace the membership, keeping the pools (and warm connections) of hosts that stay."""
        config = self.config
        previous = {(h.address, h.weight): h for h in self.hosts}
        merged = []
        for host in hosts:
            kept = previous.pop((host.address, host.weight), None)
            if kept is None:
                kept = host
                kept.pool = ConnectionPool(host, config.connect_timeout, self.stats,
                                           config.max_connections, config.max_pending_requests, self.tls)
            merged.append(kept)
        for gone in previous.values():
            gone.pool.close()
        self.hosts = merged
        self._lb.update(merged)
        self.stats.membership_total = len(merged)
        self.stats.membership_healthy = len(merged)
