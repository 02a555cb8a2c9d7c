"""Parser for the local rate limit filter's ``LocalRateLimit``
(envoy.extensions.filters.http.local_ratelimit.v3), both as the filter's config and as a virtual
host's or route's typed_per_filter_config (where the token bucket is required), and the shared
``TokenBucket`` and descriptor types the network filter of the same name uses too."""
from __future__ import annotations

import http
from dataclasses import dataclass
from typing import ClassVar

from ..core import HeaderValueOption
from ..fields import Enum, Fields, Node, present
from ..parse_core import header_value_option
from ..runtime import RuntimeFraction
from .runtime_fraction import keyed_runtime_fraction

LOCAL_RATE_LIMIT = Fields(
    "stat_prefix status token_bucket filter_enabled filter_enforced "
    "request_headers_to_add_when_not_enforced response_headers_to_add descriptors stage "
    "local_rate_limit_per_downstream_connection enable_x_ratelimit_headers vh_rate_limits "
    "always_consume_default_token_bucket",
    unsupported="local_cluster_rate_limit rate_limited_as_resource_exhausted rate_limits "
                "max_dynamic_descriptors enable_retry_after_header")
TOKEN_BUCKET = Fields("max_tokens tokens_per_fill fill_interval")
HTTP_STATUS = Fields("code")
DESCRIPTOR = Fields("entries token_bucket", unsupported="shadow_mode")
ENTRY = Fields("key value")
X_RATELIMIT_HEADERS = Enum("OFF DRAFT_VERSION_03")
VH_RATE_LIMITS = Enum("OVERRIDE INCLUDE IGNORE")
MAX_HEADERS = 10
#: Envoy's floor on a token bucket's fill_interval
MIN_FILL_INTERVAL = 0.05
#: Envoy's HttpStatus code names ("TooManyRequests") → the status
_STATUS_NAMES = {status.phrase.replace(" ", "").replace("-", ""): status.value
                 for status in http.HTTPStatus}


@dataclass(frozen=True)
class TokenBucket:
    """type.v3.TokenBucket: ``fill_interval`` in seconds. Tokens come back continuously at
    ``tokens_per_fill / fill_interval`` a second, as Envoy 1.40's atomic token bucket does."""
    max_tokens: int
    fill_interval: float
    tokens_per_fill: int = 1


@dataclass(frozen=True)
class Descriptor:
    """``descriptors[]``: ``entries`` are (key, value) pairs, matched in order and in full."""
    entries: tuple[tuple[str, str], ...]
    token_bucket: TokenBucket


@dataclass(frozen=True)
class LocalRateLimit:
    """``filter_enabled`` / ``filter_enforced``: (numerator, denominator), or a RuntimeFraction
    when a runtime_key is set (the runtime's value of the key decides, else the default_value);
    None is never (Envoy's default for both: a filter without filter_enabled limits nothing). ``location`` is where the
    config sits in the bootstrap: its token buckets are shared by every worker process under
    keys made from it and from the config (``bucket_keys``)."""
    runtime: ClassVar[str] = "local_ratelimit"
    stat_prefix: str
    location: str
    status: int = 429
    token_bucket: TokenBucket | None = None
    filter_enabled: tuple[int, int] | RuntimeFraction | None = None
    filter_enforced: tuple[int, int] | RuntimeFraction | None = None
    request_headers_to_add_when_not_enforced: tuple[HeaderValueOption, ...] = ()
    response_headers_to_add: tuple[HeaderValueOption, ...] = ()
    descriptors: tuple[Descriptor, ...] = ()
    stage: int = 0
    per_connection: bool = False
    x_ratelimit_headers: bool = False
    vh_rate_limits: str = "OVERRIDE"
    always_consume_default_token_bucket: bool = True

    def bucket_keys(self) -> list[str]:
        """The keys of the buckets worker processes share: the default bucket's (when there is
        one), then one per descriptor. None when each connection has buckets of its own."""
        if self.per_connection:
            return []
        keys = [self.bucket_key("default")] if self.token_bucket is not None else []
        return keys + [self.bucket_key(index) for index in range(len(self.descriptors))]

    def bucket_key(self, which) -> str:
        """A bucket's key: where the config sits, and what it says (a reload that changes the
        config starts afresh, as Envoy's new filter config does)."""
        return bucket_key(self.location, which, self)


def bucket_key(location: str, which, config) -> str:
    import hashlib  # here: hashlib maps libcrypto, which a worker without TLS never needs
    digest = hashlib.sha1(repr(config).encode()).hexdigest()[:16]
    return f"local_ratelimit {location} {which} {digest}"


def parse(node: Node, per_route=False) -> LocalRateLimit | None:
    m = node.message(LOCAL_RATE_LIMIT)
    if m is None:
        return None
    bucket = m.nested("token_bucket", token_bucket, required=per_route)
    descriptor_nodes = m.items("descriptors")
    descriptors = []
    for descriptor_node in descriptor_nodes:
        item = descriptor(descriptor_node)
        if item is not None and any(item.entries == other.entries for other in descriptors):
            descriptor_node.fail("duplicate descriptor in the local rate descriptor: "
                                 + _shown(item.entries))
        elif item is not None:
            descriptors.append(item)
    headers_when_not_enforced = _headers(m, "request_headers_to_add_when_not_enforced")
    response_headers = _headers(m, "response_headers_to_add")
    x_headers = m.enum("enable_x_ratelimit_headers", X_RATELIMIT_HEADERS)
    return LocalRateLimit(
        stat_prefix=m.string("stat_prefix", "", required=True),
        location=node.path,
        token_bucket=bucket,
        descriptors=tuple(descriptors),
        request_headers_to_add_when_not_enforced=headers_when_not_enforced,
        response_headers_to_add=response_headers,
        **present(status=m.nested("status", http_status),
                  filter_enabled=m.nested("filter_enabled", keyed_runtime_fraction),
                  filter_enforced=m.nested("filter_enforced", keyed_runtime_fraction),
                  stage=m.uint32("stage", maximum=10),
                  per_connection=m.boolean("local_rate_limit_per_downstream_connection"),
                  x_ratelimit_headers=None if x_headers is None else x_headers != "OFF",
                  vh_rate_limits=m.enum("vh_rate_limits", VH_RATE_LIMITS),
                  always_consume_default_token_bucket=m.boolean(
                      "always_consume_default_token_bucket")))


def parse_per_route(node: Node) -> LocalRateLimit | None:
    return parse(node, per_route=True)


def token_bucket(node: Node) -> TokenBucket | None:
    m = node.message(TOKEN_BUCKET)
    if m is None:
        return None
    max_tokens = m.uint32("max_tokens", required=True, minimum=1)
    per_fill = m.nested("tokens_per_fill", _uint32_value)
    if per_fill == 0:
        m.at("tokens_per_fill").fail("must be greater than 0")
    interval = m.duration("fill_interval")
    if interval is None:
        m.at("fill_interval").fail("required field is missing")
    elif interval < MIN_FILL_INTERVAL:
        m.at("fill_interval").fail("local rate limit token bucket fill timer must be >= 50ms")
    if max_tokens is None or interval is None or interval < MIN_FILL_INTERVAL or per_fill == 0:
        return None
    return TokenBucket(max_tokens=max_tokens, fill_interval=interval,
                       **present(tokens_per_fill=per_fill))


def descriptor(node: Node) -> Descriptor | None:
    m = node.message(DESCRIPTOR)
    if m is None:
        return None
    entry_nodes = m.items("entries")
    if not entry_nodes:
        m.at("entries").fail("at least one entry is required")
    entries = tuple(_entry(n) for n in entry_nodes)
    bucket = m.nested("token_bucket", token_bucket, required=True)
    if not entries or None in entries or bucket is None:
        return None
    return Descriptor(entries=entries, token_bucket=bucket)


def _entry(node: Node):
    m = node.message(ENTRY)
    if m is None:
        return None
    key = m.string("key", required=True)
    value = m.string("value", "")
    if value == "":
        m.at("value").fail("an entry without a value (a dynamic descriptor) is not supported "
                           "by hotproxy yet")
        return None
    return None if key is None else (key, value)


def http_status(node: Node) -> int | None:
    """type.v3.HttpStatus; Envoy answers 429 for a code under 400."""
    m = node.message(HTTP_STATUS)
    if m is None:
        return None
    code_node = m.at("code")
    value = code_node.value
    if value is None:
        return code_node.fail("required field is missing")
    if isinstance(value, str) and value in _STATUS_NAMES:
        code = _STATUS_NAMES[value]
    else:
        code = code_node.uint32(minimum=100, maximum=599)
    if code is None:
        return None
    return code if code >= 400 else 429


def _uint32_value(node: Node):
    """A google.protobuf.UInt32Value: the number, or ``{"value": n}``."""
    if isinstance(node.value, dict):
        m = node.message(Fields("value"))
        return m.uint32("value", 0) if m is not None else None
    return node.uint32()


def _headers(m, name):
    headers = m.repeated(name, header_value_option)
    if len(headers) > MAX_HEADERS:
        m.at(name).fail(f"at most {MAX_HEADERS} headers, got {len(headers)}")
    return headers


def _shown(entries):
    return "[" + ", ".join(f"{key}={value}" for key, value in entries) + "]"
