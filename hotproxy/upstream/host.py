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

    __slots__ = ("address", "weight", "hostname", "active_requests", "label", "pool", "named_pools",
                 "stats")

    def __init__(self, address, weight=1, hostname=""):
        self.address = address
        self.weight = weight
        self.hostname = hostname
        self.active_requests = 0
        self.label = address_label(address)
        self.pool = None  # the worker's connection pool for this host, attached by the cluster
        #: RequestNames → pool, for requests that name their own SNI or SAN (server_names.py)
        self.named_pools = None
        self.stats = HostStats()

    def pools(self):
        if self.pool is not None:
            yield self.pool
        if self.named_pools:
            yield from self.named_pools.values()

    def close_pools(self):
        for pool in list(self.pools()):
            pool.close()

    def __repr__(self):
        return f"<Host {self.label} weight={self.weight} active={self.active_requests}>"
