"""Parser for ``RouteAction.rate_limits`` and ``VirtualHost.rate_limits``
(envoy.config.route.v3.RateLimit) into rate_limit.py's dataclasses."""
from __future__ import annotations

from .fields import Fields, Node, present
from .parse_core import header_matcher
from .rate_limit import RateLimit, RateLimitAction

RATE_LIMIT = Fields("stage disable_key actions",
                    unsupported="limit hits_addend apply_on_stream_done x_ratelimit_option")
ACTION = Fields(
    "source_cluster destination_cluster request_headers remote_address generic_key "
    "header_value_match masked_remote_address",
    unsupported="dynamic_metadata metadata extension query_parameter_value_match "
                "query_parameters")
EMPTY = Fields("")
REQUEST_HEADERS = Fields("header_name descriptor_key skip_if_absent")
GENERIC_KEY = Fields("descriptor_value descriptor_key")
HEADER_VALUE_MATCH = Fields("descriptor_key descriptor_value expect_match headers")
MASKED_REMOTE_ADDRESS = Fields("v4_prefix_mask_len v6_prefix_mask_len")
_KINDS = ("source_cluster", "destination_cluster", "request_headers", "remote_address",
          "generic_key", "header_value_match", "masked_remote_address")


def rate_limit(node: Node) -> RateLimit | None:
    m = node.message(RATE_LIMIT)
    if m is None:
        return None
    action_nodes = m.items("actions")
    if not action_nodes:
        m.at("actions").fail("at least one action is required")
    actions = tuple(action(n) for n in action_nodes)
    stage = m.uint32("stage", maximum=10)
    disable_key = m.string("disable_key")
    if not actions or None in actions:
        return None
    return RateLimit(actions=actions, **present(stage=stage, disable_key=disable_key))


def action(node: Node) -> RateLimitAction | None:
    m = node.message(ACTION)
    if m is None:
        return None
    kind = m.one_of(*_KINDS)
    if kind is None:
        return None
    return m.nested(kind, _PARSERS[kind])


def _empty(kind, key):
    def parse(node: Node):
        return RateLimitAction(kind=kind, key=key) if node.message(EMPTY) is not None else None
    return parse


def _request_headers(node: Node):
    m = node.message(REQUEST_HEADERS)
    if m is None:
        return None
    header = m.string("header_name", required=True, http_safe=True)
    key = m.string("descriptor_key", required=True)
    skip = m.boolean("skip_if_absent")
    if header is None or key is None:
        return None
    return RateLimitAction(kind="request_headers", key=key, header=header.lower(),
                           **present(skip_if_absent=skip))


def _generic_key(node: Node):
    m = node.message(GENERIC_KEY)
    if m is None:
        return None
    value = m.string("descriptor_value", required=True)
    key = m.string("descriptor_key") or "generic_key"
    return None if value is None else RateLimitAction(kind="generic_key", key=key, value=value)


def _header_value_match(node: Node):
    m = node.message(HEADER_VALUE_MATCH)
    if m is None:
        return None
    value = m.string("descriptor_value", required=True)
    key = m.string("descriptor_key") or "header_match"
    expect = m.boolean("expect_match")
    header_nodes = m.items("headers")
    if not header_nodes:
        m.at("headers").fail("at least one header matcher is required")
    headers = tuple(header_matcher(n) for n in header_nodes)
    if value is None or not headers or None in headers:
        return None
    return RateLimitAction(kind="header_value_match", key=key, value=value, headers=headers,
                           **present(expect_match=expect))


def _masked_remote_address(node: Node):
    m = node.message(MASKED_REMOTE_ADDRESS)
    if m is None:
        return None
    return RateLimitAction(kind="masked_remote_address", key="masked_remote_address",
                           **present(v4_prefix_mask_len=m.uint32("v4_prefix_mask_len", maximum=32),
                                     v6_prefix_mask_len=m.uint32("v6_prefix_mask_len", maximum=128)))


_PARSERS = {
    "source_cluster": _empty("source_cluster", "source_cluster"),
    "destination_cluster": _empty("destination_cluster", "destination_cluster"),
    "remote_address": _empty("remote_address", "remote_address"),
    "request_headers": _request_headers,
    "generic_key": _generic_key,
    "header_value_match": _header_value_match,
    "masked_remote_address": _masked_remote_address,
}
