"""Where dynamic resources come from (envoy.config.core.v3.ConfigSource and the bootstrap's
DynamicResources) as frozen dataclasses, and the references to them that listeners (``rds``) and
clusters (``eds_cluster_config``) hold."""
from __future__ import annotations

from dataclasses import dataclass

#: the resource types by their short names, as hotproxy's xDS client and stats name them
LISTENERS, CLUSTERS, ENDPOINTS, ROUTES, SECRETS, RUNTIME = (
    "listeners", "clusters", "endpoints", "routes", "secrets", "runtime")

#: Envoy's default ConfigSource.initial_fetch_timeout
DEFAULT_INITIAL_FETCH_TIMEOUT = 15.0


@dataclass(frozen=True)
class ApiConfigSource:
    """``api_type`` is REST, GRPC or DELTA_GRPC (AGGREGATED_* only as the bootstrap's
    ads_config, where they mean the same). ``cluster`` is the static cluster that serves it:
    the one of ``grpc_services[0].envoy_grpc`` or of ``cluster_names``."""
    api_type: str
    cluster: str
    refresh_delay: float = 1.0
    request_timeout: float = 1.0
    set_node_on_first_message_only: bool = False

    @property
    def delta(self) -> bool:
        return self.api_type in ("DELTA_GRPC", "AGGREGATED_DELTA_GRPC")

    @property
    def rest(self) -> bool:
        return self.api_type == "REST"


@dataclass(frozen=True)
class ConfigSource:
    """One of: a watched file (``path``, with ``watched_directory``), an ``api`` source of its
    own, or ``ads`` (the bootstrap's one ADS stream)."""
    path: str | None = None
    watched_directory: str | None = None
    api: ApiConfigSource | None = None
    ads: bool = False
    initial_fetch_timeout: float = DEFAULT_INITIAL_FETCH_TIMEOUT

    def describe(self) -> str:
        if self.path is not None:
            return f"file {self.path}"
        if self.ads:
            return "ADS"
        return f"{self.api.api_type} from cluster '{self.api.cluster}'"


@dataclass(frozen=True)
class DynamicResources:
    lds: ConfigSource | None = None
    cds: ConfigSource | None = None
    ads: ApiConfigSource | None = None

    @property
    def sources(self):
        """(short type name, ConfigSource) of the bootstrap's own subscriptions."""
        return [(kind, source) for kind, source in ((LISTENERS, self.lds), (CLUSTERS, self.cds))
                if source is not None]


@dataclass(frozen=True)
class Rds:
    """An HTTP connection manager's ``rds``: its route table comes from RDS under this name."""
    route_config_name: str
    config_source: ConfigSource


@dataclass(frozen=True)
class Eds:
    """An EDS cluster's ``eds_cluster_config``; ``service_name`` defaults to the cluster's name."""
    service_name: str
    config_source: ConfigSource


def uses_rds_or_eds(bootstrap) -> bool:
    """Whether a listener of ``bootstrap`` takes its routes from RDS or a cluster its endpoints
    from EDS: then its workers wait for them before they serve."""
    return any(cluster.eds is not None for cluster in bootstrap.clusters) or any(
        hcm.rds is not None for listener in bootstrap.listeners for hcm in listener.connection_managers())
