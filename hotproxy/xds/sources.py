"""Where one resource type comes from, as the xDS client takes it: what the config side makes of
a ConfigSource once its cluster is resolved to an address. Frozen, so that equal sources
compare equal: the ADS types of one address share one stream."""
from __future__ import annotations

from dataclasses import dataclass

#: Envoy's default ConfigSource.initial_fetch_timeout; 0 waits for ever
DEFAULT_INITIAL_FETCH_TIMEOUT = 15.0


@dataclass(frozen=True)
class GrpcSource:
    """A gRPC control plane (plaintext HTTP/2). ``ads``: the type shares the one
    AggregatedDiscoveryService stream of this address; else it has a stream of its own on its
    type's service. ``delta``: the incremental variant. ``authority`` is the ``:authority``
    (Envoy's default: the cluster's name). The back-off is envoy_grpc.retry_policy's."""
    target_host: str
    target_port: int
    delta: bool = False
    ads: bool = False
    initial_fetch_timeout_s: float = DEFAULT_INITIAL_FETCH_TIMEOUT
    authority: str | None = None
    set_node_on_first_message_only: bool = False
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    def describe(self) -> str:
        kind = ("delta " if self.delta else "") + ("ADS" if self.ads else "gRPC")
        return f"{kind} {self.target_host}:{self.target_port}"


@dataclass(frozen=True)
class RestSource:
    """A REST-JSON control plane polled every ``refresh_delay_s`` (plus up to as much again of
    jitter, as Envoy's RestApiFetcher)."""
    host: str
    port: int
    refresh_delay_s: float = 1.0
    request_timeout_s: float = 1.0
    initial_fetch_timeout_s: float = DEFAULT_INITIAL_FETCH_TIMEOUT

    def describe(self) -> str:
        return f"REST {self.host}:{self.port}"


@dataclass(frozen=True)
class FileSource:
    """A DiscoveryResponse in a file (.yaml/.yml, .json, .pb binary or .pb_text; JSON for
    any other name), read again when it is replaced, or, with ``watched_directory``, when
    anything is moved into that directory."""
    path: str
    watched_directory: str | None = None
    initial_fetch_timeout_s: float = DEFAULT_INITIAL_FETCH_TIMEOUT

    def describe(self) -> str:
        return f"file {self.path}"
