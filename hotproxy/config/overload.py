"""overload_manager (envoy.config.overload.v3) as frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass

FIXED_HEAP = "envoy.resource_monitors.fixed_heap"
DOWNSTREAM_CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections"

STOP_ACCEPTING_REQUESTS = "envoy.overload_actions.stop_accepting_requests"
DISABLE_HTTP_KEEPALIVE = "envoy.overload_actions.disable_http_keepalive"
STOP_ACCEPTING_CONNECTIONS = "envoy.overload_actions.stop_accepting_connections"
REJECT_INCOMING_CONNECTIONS = "envoy.overload_actions.reject_incoming_connections"
RESET_HIGH_MEMORY_STREAM = "envoy.overload_actions.reset_high_memory_stream"


@dataclass(frozen=True)
class ResourceMonitor:
    """``name`` is FIXED_HEAP (``limit``: max_heap_size_bytes, measured as the RSS of the whole
    process tree) or DOWNSTREAM_CONNECTIONS (``limit``: max_active_downstream_connections)."""
    name: str
    limit: int


@dataclass(frozen=True)
class Trigger:
    """A threshold trigger (``threshold``: the action is on at that pressure) or a scaled one
    (0 below ``scaling_threshold``, 1 from ``saturation_threshold``, linear between)."""
    resource: str
    threshold: float | None = None
    scaling_threshold: float | None = None
    saturation_threshold: float | None = None


@dataclass(frozen=True)
class OverloadAction:
    name: str
    triggers: tuple[Trigger, ...]


@dataclass(frozen=True)
class OverloadManager:
    refresh_interval: float = 1.0
    resource_monitors: tuple[ResourceMonitor, ...] = ()
    actions: tuple[OverloadAction, ...] = ()
    #: buffer_factory_config.minimum_account_to_track_power_of_two: streams with at least
    #: 2**N bytes buffered are the ones reset_high_memory_stream may reset
    minimum_account_to_track_power_of_two: int | None = None

    def monitor(self, name: str) -> ResourceMonitor | None:
        for monitor in self.resource_monitors:
            if monitor.name == name:
                return monitor
        return None


def runtime_limits_connections(bootstrap) -> bool:
    """Whether the runtime key ``overload.global_downstream_max_connections`` (Envoy's older
    global connection limit) may apply: the bootstrap has runtime layers to set it in, and no
    global_downstream_max_connections monitor, which wins over the key as in Envoy."""
    layered = bootstrap.layered_runtime
    overload = bootstrap.overload_manager
    return (layered is not None and bool(layered.layers)
            and (overload is None or overload.monitor(DOWNSTREAM_CONNECTIONS) is None))
