"""A worker's runtime view of one cluster: its hosts, load balancer, pools and stats.

STATIC clusters know their hosts from the config. STRICT_DNS and LOGICAL_DNS clusters start with
no hosts and are filled by ``discovery.dns`` (which calls ``set_hosts``), as Envoy's are: a request
arriving before the first resolution gets "no healthy upstream".
"""
from __future__ import annotations

from collections import OrderedDict

from ..stats.histogram import Recorder
from ..stats.schema import ClusterStats
from .host import Host
from .lb import make_load_balancer
from .pool import ConnectionPool
from .server_names import NamesFromRequest
from .tls import UpstreamTls

#: Pools a host keeps for requests that name their own SNI or SAN; the least recently used one
#: beyond this is closed (the names come from clients' Host headers).
MAX_NAMED_POOLS = 64


class Cluster:
    def __init__(self, config):
        self.config = config
        self.name = config.name
        self.stats = ClusterStats()
        self.rq_time = Recorder()  # upstream_rq_time, ms
        self.hosts = []
        #: the cluster's TLS transport socket, or None for plain text
        self.tls = UpstreamTls(config.transport_socket) if config.transport_socket is not None else None
        #: the SNI and SAN a request asks for, when the cluster takes them from requests
        self.names_from_request = (NamesFromRequest(config) if self.tls is not None and
                                   (config.auto_sni or config.auto_san_validation) else None)
        self._lb = make_load_balancer(config.lb_policy, [], config.choice_count)
        if config.type == "STATIC":
            self.set_hosts([Host((ep.address.address, ep.address.port), ep.load_balancing_weight)
                            for ep in config.all_endpoints()])

    def __repr__(self):
        return f"<Cluster {self.name} {self.config.type} hosts={len(self.hosts)}>"

    def pick_host(self):
        """The next host by the cluster's LB policy, or None when it has none."""
        return self._lb.pick()

    def pool_for(self, host, names):
        """``host``'s pool for requests that asked for ``names`` (server_names.py)."""
        pools = host.named_pools
        if pools is None:
            pools = host.named_pools = OrderedDict()
        pool = pools.get(names)
        if pool is not None:
            pools.move_to_end(names)
            return pool
        config = self.config
        pool = pools[names] = ConnectionPool(host, config.connect_timeout, self.stats,
                                             config.max_connections, config.max_pending_requests,
                                             self.tls, names)
        if len(pools) > MAX_NAMED_POOLS:
            pools.popitem(last=False)[1].close()
        return pool

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
            gone.close_pools()
        self.hosts = merged
        self._lb.update(merged)
        self.stats.membership_total = len(merged)
        self.stats.membership_healthy = len(merged)
