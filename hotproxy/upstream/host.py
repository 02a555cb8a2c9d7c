"""An upstream host as the load balancers and connection pools see it."""
from __future__ import annotations

from ..sockio import address_label
from ..stats.schema import HostStats


class Host:
    """One endpoint of a cluster.

    ``address`` is an ``(ip, port)`` tuple ready for ``connect``; ``hostname`` the name it was
    resolved from (empty for STATIC). ``active_requests`` is maintained by the router and read
    by LEAST_REQUEST.
    """

    __slots__ = ("address", "weight", "hostname", "active_requests", "label", "pool", "high_pool", "pools_by_options",
                 "stats", "socket_match_labels", "transport", "priority", "locality",
                 "healthy_since")

    def __init__(self, address, weight=1, hostname="", socket_match_labels=(None, None), priority=0,
                 locality=0):
        self.address = address
        self.priority = priority
        self.locality = locality   # its locality's index among its priority's (locality-weighted LB)
        self.weight = weight
        self.hostname = hostname
        #: its endpoint's and its locality's transport socket match labels (config/cluster.py)
        self.socket_match_labels = socket_match_labels
        #: how its connections are established (transport.py), None for plain text: set by
        #: the cluster
        self.transport = None
        self.active_requests = 0
        self.label = address_label(address)
        self.pool = None  # the worker's connection pool for this host, attached by the cluster
        #: the pool of requests of routes with priority HIGH (Envoy keeps a pool per priority),
        #: made by the cluster on first use (high_priority.py), else None
        self.high_pool = None
        #: ConnectOptions → pool, for requests that ask for their own SNI or SAN, or a PROXY
        #: protocol header of their own (connect.py)
        self.pools_by_options = None
        self.stats = HostStats()
        #: monotonic time it was added or last turned healthy, kept only with slow_start_config
        #: (lb/slow_start.py), else None
        self.healthy_since = None

    def pools(self):
        if self.pool is not None:
            yield self.pool
        if self.high_pool is not None:
            yield self.high_pool
        if self.pools_by_options:
            yield from self.pools_by_options.values()

    def close_pools(self):
        for pool in list(self.pools()):
            pool.close()

    def __repr__(self):
        return f"<Host {self.label} weight={self.weight} active={self.active_requests}>"
