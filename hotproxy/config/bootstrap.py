"""Bootstrap (envoy.config.bootstrap.v3) as frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass

from .accesslog import AccessLog
from .cluster import Cluster
from .core import SocketAddress
from .listener import Listener
from .overload import OverloadManager
from .runtime import LayeredRuntime
from .xds import DynamicResources


@dataclass(frozen=True)
class Admin:
    """``access_log`` includes the deprecated ``access_log_path`` as a file log (first)."""
    address: SocketAddress
    access_log: tuple[AccessLog, ...] = ()


@dataclass(frozen=True)
class StatsTag:
    """One of ``stats_config.stats_tags``. With neither ``regex`` nor ``fixed_value``, Envoy's
    default extractors of that ``tag_name`` apply."""
    tag_name: str
    regex: str | None = None
    fixed_value: str | None = None


@dataclass(frozen=True)
class StatsConfig:
    stats_tags: tuple[StatsTag, ...] = ()
    use_all_default_tags: bool = True


@dataclass(frozen=True)
class Bootstrap:
    listeners: tuple[Listener, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    admin: Admin | None = None
    stats_flush_interval: float = 5.0
    node_id: str = ""
    node_cluster: str = ""
    stats_config: StatsConfig = StatsConfig()
    overload_manager: OverloadManager | None = None
    dynamic_resources: DynamicResources | None = None
    layered_runtime: LayeredRuntime | None = None

    def cluster(self, name: str) -> Cluster | None:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        return None
