"""Active health checking (envoy.config.core.v3.HealthCheck) as frozen dataclasses."""
from __future__ import annotations

from dataclasses import dataclass

from .core import HeaderValueOption, SocketAddress


@dataclass(frozen=True)
class HttpHealthCheck:
    """``http_health_check`` (HTTP/1.1 only). ``host`` empty: the cluster's name is the Host.
    ``expected_statuses`` are half-open [start, end) ranges."""
    path: str
    host: str = ""
    expected_statuses: tuple[tuple[int, int], ...] = ((200, 201),)
    request_headers_to_add: tuple[HeaderValueOption, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class TcpHealthCheck:
    """``tcp_health_check``: ``send`` is written once connected; the check passes when every
    ``receive`` payload has been read, in order. Neither: a connect-only check."""
    send: bytes = b""
    receive: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class HealthCheck:
    """One of a cluster's ``health_checks``, durations in seconds. Unset edge and unhealthy
    intervals fall back as Envoy's do: unhealthy_interval → interval, unhealthy_edge_interval
    → unhealthy_interval, healthy_edge_interval → interval."""
    timeout: float
    interval: float
    unhealthy_threshold: int
    healthy_threshold: int
    http: HttpHealthCheck | None = None
    tcp: TcpHealthCheck | None = None
    initial_jitter: float = 0.0
    interval_jitter: float = 0.0
    interval_jitter_percent: int = 0
    no_traffic_interval: float = 60.0
    unhealthy_interval: float | None = None
    unhealthy_edge_interval: float | None = None
    healthy_edge_interval: float | None = None
    #: event_log_path and every envoy.health_check.event_sink.file of event_logger
    event_log_paths: tuple[str, ...] = ()
    always_log_health_check_failures: bool = False
    #: labels that choose the transport of the checks among the cluster's
    #: transport_socket_matches, as a host's own labels would; None: each host's own transport
    transport_socket_match_criteria: tuple[tuple[str, object], ...] | None = None

    @property
    def checker_type(self) -> str:
        """As the event log names it."""
        return "HTTP" if self.http is not None else "TCP"

    @property
    def effective_unhealthy_interval(self) -> float:
        return self.unhealthy_interval or self.interval

    @property
    def effective_unhealthy_edge_interval(self) -> float:
        return self.unhealthy_edge_interval or self.effective_unhealthy_interval

    @property
    def effective_healthy_edge_interval(self) -> float:
        return self.healthy_edge_interval or self.interval


@dataclass(frozen=True)
class EndpointHealthCheckConfig:
    """An endpoint's ``health_check_config``: where its checks go instead of its own address
    (``port`` 0: the endpoint's port; ``address`` None: the endpoint's address)."""
    port: int = 0
    address: SocketAddress | None = None
