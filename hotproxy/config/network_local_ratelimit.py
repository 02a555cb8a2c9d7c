"""The network local rate limit filter's config (envoy.extensions.filters.network.local_ratelimit.v3
LocalRateLimit): a token taken per new connection, the connection closed when there is none."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .fields import Fields, Node, present
from .http_filters.local_ratelimit import TokenBucket, bucket_key, token_bucket
from .listener import NetworkFilter

NETWORK_LOCAL_RATELIMIT_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.local_ratelimit"
                                ".v3.LocalRateLimit")
LOCAL_RATE_LIMIT = Fields("stat_prefix token_bucket runtime_enabled share_key")
RUNTIME_FEATURE_FLAG = Fields("default_value runtime_key")
BOOL_VALUE = Fields("value")


@dataclass(frozen=True)
class NetworkLocalRateLimit(NetworkFilter):
    """``enabled``: runtime_enabled's default_value (hotproxy's workers have no runtime values).
    Filters with the same ``share_key`` share one bucket, as in Envoy; without one the bucket is
    this config's own (``location``), shared by every worker process."""
    runtime: ClassVar[str] = "local_ratelimit"
    stat_prefix: str
    token_bucket: TokenBucket
    location: str
    enabled: bool = True
    share_key: str = ""

    def bucket_key(self) -> str:
        if self.share_key:
            return bucket_key("share_key", self.share_key, self.token_bucket)
        return bucket_key(self.location, "connections", self)

    def bucket_keys(self) -> list[str]:
        return [self.bucket_key()]


def network_local_ratelimit(node: Node) -> NetworkLocalRateLimit | None:
    m = node.message(LOCAL_RATE_LIMIT)
    if m is None:
        return None
    stat_prefix = m.string("stat_prefix", required=True)
    bucket = m.nested("token_bucket", token_bucket, required=True)
    enabled = m.nested("runtime_enabled", _runtime_feature_flag)
    share_key = m.string("share_key")
    if stat_prefix is None or bucket is None:
        return None
    return NetworkLocalRateLimit(stat_prefix=stat_prefix, token_bucket=bucket, location=node.path,
                                 **present(enabled=enabled, share_key=share_key))


def _runtime_feature_flag(node: Node):
    """core.v3.RuntimeFeatureFlag: its default_value (the runtime_key is required, and read as
    unset)."""
    m = node.message(RUNTIME_FEATURE_FLAG)
    if m is None:
        return None
    m.string("runtime_key", required=True)
    default = m.at("default_value")
    if default.value is None:
        return default.fail("required field is missing")
    if isinstance(default.value, dict):
        wrapper = default.message(BOOL_VALUE)
        return wrapper.boolean("value", False) if wrapper is not None else None
    return default.boolean()
