"""Bootstrap (envoy.config.bootstrap.v3) as frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass

from .accesslog import AccessLog
from .cluster import Cluster
from .core import SocketAddress, StringMatcher
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
class StatsMatcher:
    """``stats_config.stats_matcher``: which stats exist. ``kind`` is "reject_all" (with
    ``reject_all`` true: none; false: all), "exclusion_list" or "inclusion_list" of ``patterns``
    matched against the full stat name."""
    kind: str
    reject_all: bool = False
    patterns: tuple[StringMatcher, ...] = ()


@dataclass(frozen=True)
class HistogramBuckets:
    """One of ``stats_config.histogram_bucket_settings``: the histograms whose name ``match``
    matches get these Prometheus bucket bounds (sorted, unique) instead of Envoy's defaults."""
    match: StringMatcher
    buckets: tuple[float, ...]


@dataclass(frozen=True)
class StatsConfig:
    stats_tags: tuple[StatsTag, ...] = ()
    use_all_default_tags: bool = True
    stats_matcher: StatsMatcher | None = None
    histogram_bucket_settings: tuple[HistogramBuckets, ...] = ()


@dataclass(frozen=True)
class StatsSink:
    """One of ``stats_sinks``: ``kind`` "statsd" (envoy.stat_sinks.statsd: full stat names,
    over UDP to ``address`` whatever its protocol says, as in Envoy, or over TCP to a host of
    ``tcp_cluster_name``) or "dog_statsd" (tag-extracted names with ``|#tag:value`` tags, over
    UDP, lines packed into datagrams of up to ``max_bytes_per_datagram``; one a datagram
    without it)."""
    kind: str
    address: SocketAddress | None = None
    tcp_cluster_name: str | None = None
    prefix: str = "envoy"
    max_bytes_per_datagram: int | None = None


@dataclass(frozen=True)
class Bootstrap:
    listeners: tuple[Listener, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    admin: Admin | None = None
    stats_flush_interval: float = 5.0
    node_id: str = ""
    node_cluster: str = ""
    node_zone: str = ""         # node.locality.zone: spans' zone tag (hotproxy/tracing/)
    stats_config: StatsConfig = StatsConfig()
    stats_sinks: tuple[StatsSink, ...] = ()
    overload_manager: OverloadManager | None = None
    dynamic_resources: DynamicResources | None = None
    layered_runtime: LayeredRuntime | None = None

    def cluster(self, name: str) -> Cluster | None:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        return None
