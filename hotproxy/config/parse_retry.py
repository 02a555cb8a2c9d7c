"""Parser for route.v3.RetryPolicy (on a route action or a virtual host) into route.py's
RetryPolicy."""
from __future__ import annotations

from .fields import NOT_SUPPORTED, Enum, Fields, Node, present
from .parse_core import header_matcher
from .route import RateLimitedRetryBackOff, ResetHeader, RetryBackOff, RetryPolicy

RETRY_POLICY = Fields(
    "retry_on num_retries per_try_timeout per_try_idle_timeout retry_back_off "
    "rate_limited_retry_back_off retry_host_predicate host_selection_retry_max_attempts "
    "retriable_status_codes retriable_headers retriable_request_headers",
    unsupported="retry_priority retry_options_predicates")
RETRY_BACK_OFF = Fields("base_interval max_interval")
RATE_LIMITED_RETRY_BACK_OFF = Fields("reset_headers max_interval")
RESET_HEADER = Fields("name format")
RESET_HEADER_FORMATS = Enum("SECONDS UNIX_TIMESTAMP")
RETRY_HOST_PREDICATE = Fields("name typed_config")

#: The retry_on conditions hotproxy evaluates (Envoy's names).
RETRY_ON = frozenset((
    "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx",
    "refused-stream", "retriable-status-codes", "retriable-headers", "envoy-ratelimited",
    # HTTP/3 only: never true for hotproxy's HTTP/1.1 upstreams, as for Envoy's TCP ones
    "http3-post-connect-failure",
    # gRPC's, read from a trailers-only response's grpc-status (router/retry.py)
    "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
))
PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts"
PREVIOUS_HOSTS_TYPE = ("type.googleapis.com/"
                       "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate")


def retry_policy(node: Node) -> RetryPolicy | None:
    m = node.message(RETRY_POLICY)
    if m is None:
        return None
    predicates = m.repeated("retry_host_predicate", retry_host_predicate)
    return RetryPolicy(**present(
        retry_on=m.nested("retry_on", retry_on),
        num_retries=m.uint32("num_retries"),
        per_try_timeout=m.duration("per_try_timeout"),
        per_try_idle_timeout=m.duration("per_try_idle_timeout"),
        retry_back_off=m.nested("retry_back_off", retry_back_off),
        rate_limited_retry_back_off=m.nested("rate_limited_retry_back_off",
                                             rate_limited_retry_back_off),
        previous_hosts=PREVIOUS_HOSTS in predicates or None,
        host_selection_retry_max_attempts=m.uint32("host_selection_retry_max_attempts"),
        retriable_status_codes=m.repeated("retriable_status_codes", lambda n: n.uint32()),
        retriable_headers=m.repeated("retriable_headers", header_matcher),
        retriable_request_headers=m.repeated("retriable_request_headers", header_matcher)))


def retry_on(node: Node) -> tuple[str, ...] | None:
    """Comma-separated condition names. Envoy ignores unknown ones (with a warning): so does
    hotproxy."""
    text = node.string()
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    return tuple(name for name in names if name in RETRY_ON)


def retry_back_off(node: Node) -> RetryBackOff | None:
    m = node.message(RETRY_BACK_OFF)
    if m is None:
        return None
    base = _positive(m, "base_interval", required=True)
    maximum = _positive(m, "max_interval")
    if base is not None and maximum is not None and maximum < base:
        m.at("max_interval").fail("max_interval must be greater than or equal to the "
                                  "base_interval")
    if base is None:
        return None
    return RetryBackOff(base_interval=base, max_interval=maximum)


def rate_limited_retry_back_off(node: Node) -> RateLimitedRetryBackOff | None:
    m = node.message(RATE_LIMITED_RETRY_BACK_OFF)
    if m is None:
        return None
    headers = m.repeated("reset_headers", reset_header)
    if not m.items("reset_headers"):
        m.at("reset_headers").fail("at least one reset header is required")
        return None
    return RateLimitedRetryBackOff(reset_headers=headers,
                                   **present(max_interval=_positive(m, "max_interval")))


def reset_header(node: Node) -> ResetHeader | None:
    m = node.message(RESET_HEADER)
    if m is None:
        return None
    name = m.string("name", required=True, http_safe=True)
    if name is None:
        return None
    return ResetHeader(name=name.lower(),
                       **present(format=m.enum("format", RESET_HEADER_FORMATS)))


def retry_host_predicate(node: Node) -> str | None:
    """Only previous_hosts, and like Envoy only with its typed_config."""
    m = node.message(RETRY_HOST_PREDICATE)
    if m is None:
        return None
    name = m.string("name", required=True)
    config = m.get("typed_config")
    if name is not None and name != PREVIOUS_HOSTS:
        m.at("name").fail(f"retry host predicate '{name}' is {NOT_SUPPORTED} "
                          f"(supported: {PREVIOUS_HOSTS})")
        return None
    if config is None:
        m.at("typed_config").fail(f"required field is missing (@type: {PREVIOUS_HOSTS_TYPE})")
        return None
    value = config.value if isinstance(config.value, dict) else {}
    url = value.get("@type")
    if url != PREVIOUS_HOSTS_TYPE or len(value) != 1:
        config.fail(f"expected an empty {PREVIOUS_HOSTS_TYPE}")
        return None
    return name


def _positive(m, name, required=False):
    value = m.duration(name)
    if value is None:
        if required:
            m.at(name).fail("required field is missing")
        return None
    if value <= 0:
        m.at(name).fail("must be greater than 0s")
        return None
    return value
