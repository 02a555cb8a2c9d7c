"""Parser for the fault injection filter's ``HTTPFault``
(envoy.extensions.filters.http.fault.v3), both as the filter's config and as a virtual host's
or route's typed_per_filter_config."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..core import HeaderMatcher
from ..fields import Fields, Node, present
from ..parse_core import header_matcher
from ..parse_runtime import DENOMINATOR, DENOMINATORS, FRACTIONAL_PERCENT

HTTP_FAULT = Fields(
    "delay abort upstream_cluster headers downstream_nodes max_active_faults "
    "response_rate_limit disable_downstream_cluster_stats delay_percent_runtime "
    "abort_percent_runtime delay_duration_runtime abort_http_status_runtime "
    "max_active_faults_runtime response_rate_limit_percent_runtime abort_grpc_status_runtime",
    unsupported="filter_metadata")
#: the fields naming a runtime key, and the key each reads when left unset or empty (Envoy's
#: FaultFilterRuntimeKeys): the keys apply whether or not a config names them
RUNTIME_KEYS = {
    "delay_percent_runtime": "fault.http.delay.fixed_delay_percent",
    "abort_percent_runtime": "fault.http.abort.abort_percent",
    "delay_duration_runtime": "fault.http.delay.fixed_duration_ms",
    "abort_http_status_runtime": "fault.http.abort.http_status",
    "abort_grpc_status_runtime": "fault.http.abort.grpc_status",
    "max_active_faults_runtime": "fault.http.max_active_faults",
    "response_rate_limit_percent_runtime": "fault.http.rate_limit.response_percent",
}
FAULT_DELAY = Fields("fixed_delay header_delay percentage", unsupported="type")
FAULT_ABORT = Fields("http_status header_abort percentage response_body",
                     unsupported="grpc_status")
FAULT_RATE_LIMIT = Fields("fixed_limit header_limit percentage")
FIXED_LIMIT = Fields("limit_kbps")
EMPTY = Fields("")
UINT32_VALUE = Fields("value")
#: a percentage left unset is 0%: the fault is never injected (Envoy's FractionalPercent default)
NEVER = (0, 100)


@dataclass(frozen=True)
class FaultDelay:
    """``fixed_delay`` seconds, or None for ``header_delay`` (x-envoy-fault-delay-request)."""
    fixed_delay: float | None
    percentage: tuple[int, int] = NEVER


@dataclass(frozen=True)
class FaultAbort:
    """``http_status``, or None for ``header_abort`` (x-envoy-fault-abort-request);
    ``response_body`` replaces "fault filter abort" when set."""
    http_status: int | None
    percentage: tuple[int, int] = NEVER
    response_body: str = ""


@dataclass(frozen=True)
class FaultRateLimit:
    """``limit_kbps`` (KiB a second), or None for ``header_limit``
    (x-envoy-fault-throughput-response)."""
    limit_kbps: int | None
    percentage: tuple[int, int] = NEVER


@dataclass(frozen=True)
class HttpFault:
    """The ``*_runtime`` fields are the runtime keys the filter reads (Envoy's defaults unless
    set); ``abort_grpc_status_runtime`` is kept but never read: hotproxy refuses gRPC aborts."""
    runtime: ClassVar[str] = "fault"
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None
    upstream_cluster: str = ""
    headers: tuple[HeaderMatcher, ...] = ()
    downstream_nodes: tuple[str, ...] = ()
    max_active_faults: int | None = None         # None: no limit
    response_rate_limit: FaultRateLimit | None = None
    disable_downstream_cluster_stats: bool = False
    delay_percent_runtime: str = RUNTIME_KEYS["delay_percent_runtime"]
    abort_percent_runtime: str = RUNTIME_KEYS["abort_percent_runtime"]
    delay_duration_runtime: str = RUNTIME_KEYS["delay_duration_runtime"]
    abort_http_status_runtime: str = RUNTIME_KEYS["abort_http_status_runtime"]
    abort_grpc_status_runtime: str = RUNTIME_KEYS["abort_grpc_status_runtime"]
    max_active_faults_runtime: str = RUNTIME_KEYS["max_active_faults_runtime"]
    response_rate_limit_percent_runtime: str = RUNTIME_KEYS["response_rate_limit_percent_runtime"]


def parse(node: Node) -> HttpFault | None:
    m = node.message(HTTP_FAULT)
    if m is None:
        return None
    return HttpFault(
        delay=m.nested("delay", fault_delay),
        abort=m.nested("abort", fault_abort),
        headers=m.repeated("headers", header_matcher),
        downstream_nodes=m.repeated("downstream_nodes", Node.string),
        response_rate_limit=m.nested("response_rate_limit", fault_rate_limit),
        **present(upstream_cluster=m.string("upstream_cluster"),
                  max_active_faults=m.nested("max_active_faults", _uint32_value),
                  disable_downstream_cluster_stats=m.boolean("disable_downstream_cluster_stats")),
        # an empty key is unset (Envoy's PROTOBUF_GET_STRING_OR_DEFAULT)
        **present(**{name: m.string(name) or None for name in RUNTIME_KEYS}))


parse_per_route = parse


def fault_delay(node: Node) -> FaultDelay | None:
    m = node.message(FAULT_DELAY)
    if m is None:
        return None
    kind = m.one_of("fixed_delay", "header_delay")
    delay = m.duration("fixed_delay")
    m.nested("header_delay", lambda n: n.message(EMPTY))
    if kind is None or (kind == "fixed_delay" and delay is None):
        return None
    return FaultDelay(fixed_delay=delay, **present(percentage=m.nested("percentage", percentage)))


def fault_abort(node: Node) -> FaultAbort | None:
    m = node.message(FAULT_ABORT)
    if m is None:
        return None
    kind = m.one_of("http_status", "header_abort")
    status = m.uint32("http_status", minimum=200, maximum=599)
    m.nested("header_abort", lambda n: n.message(EMPTY))
    if kind is None or (kind == "http_status" and status is None):
        return None
    return FaultAbort(http_status=status,
                      **present(percentage=m.nested("percentage", percentage),
                                response_body=m.string("response_body")))


def fault_rate_limit(node: Node) -> FaultRateLimit | None:
    m = node.message(FAULT_RATE_LIMIT)
    if m is None:
        return None
    kind = m.one_of("fixed_limit", "header_limit")
    kbps = m.nested("fixed_limit", _fixed_limit)
    m.nested("header_limit", lambda n: n.message(EMPTY))
    if kind is None or (kind == "fixed_limit" and kbps is None):
        return None
    return FaultRateLimit(limit_kbps=kbps, **present(percentage=m.nested("percentage", percentage)))


def _fixed_limit(node: Node):
    m = node.message(FIXED_LIMIT)
    if m is None:
        return None
    return m.uint32("limit_kbps", required=True, minimum=1, maximum=2**64 - 1)


def percentage(node: Node) -> tuple[int, int] | None:
    """A type.v3.FractionalPercent: (numerator, denominator)."""
    m = node.message(FRACTIONAL_PERCENT)
    if m is None:
        return None
    return (m.uint32("numerator", 0),
            DENOMINATORS[m.enum("denominator", DENOMINATOR, "HUNDRED")])


def _uint32_value(node: Node):
    if isinstance(node.value, dict):
        m = node.message(UINT32_VALUE)
        return m.uint32("value", 0) if m is not None else None
    return node.uint32()
