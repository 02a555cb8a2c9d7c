"""``rate_limits`` of routes and virtual hosts (envoy.config.route.v3.RateLimit) as frozen
dataclasses: each entry makes one descriptor from the request, which the local_ratelimit filter
looks up among its configured descriptors."""
from __future__ import annotations

from dataclasses import dataclass

from .core import HeaderMatcher


@dataclass(frozen=True)
class RateLimitAction:
    """One ``actions[]`` entry; ``kind`` names the oneof member that is set: "source_cluster",
    "destination_cluster", "request_headers", "remote_address", "generic_key",
    "header_value_match" or "masked_remote_address". ``key`` is the descriptor key the action
    produces (Envoy's default for the kind when the config names none); ``header`` the request
    header (lower-case) of request_headers; ``value`` the descriptor value of generic_key and
    header_value_match."""
    kind: str
    key: str = ""
    value: str = ""
    header: str = ""
    skip_if_absent: bool = False
    expect_match: bool = True
    headers: tuple[HeaderMatcher, ...] = ()
    v4_prefix_mask_len: int = 32
    v6_prefix_mask_len: int = 128


@dataclass(frozen=True)
class RateLimit:
    actions: tuple[RateLimitAction, ...]
    stage: int = 0
    disable_key: str = ""
