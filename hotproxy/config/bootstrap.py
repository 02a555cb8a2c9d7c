"""Bootstrap (envoy.config.bootstrap.v3) as frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass

from .cluster import Cluster
from .core import SocketAddress
from .listener import Listener


@dataclass(frozen=True)
class Admin:
    address: SocketAddress
    access_log_path: str | None = None


@dataclass(frozen=True)
class Bootstrap:
    listeners: tuple[Listener, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    admin: Admin | None = None
    stats_flush_interval: float = 5.0
    node_id: str = ""
    node_cluster: str = ""

    def cluster(self, name: str) -> Cluster | None:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        return None
