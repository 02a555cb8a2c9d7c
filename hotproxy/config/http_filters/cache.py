"""Parser for the cache HTTP filter (envoy.extensions.filters.http.cache.v3.CacheConfig) with
Envoy's in-memory storage (envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig).
hotproxy's store is bounded per worker (http/filters/cache_store.py); no field sets the bounds,
since the Envoy message has none."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..fields import NOT_SUPPORTED, Fields, Node, present
from ..parse_core import string_matcher

CACHE_CONFIG = Fields(
    "typed_config disabled allowed_vary_headers max_body_bytes ignore_request_cache_control_header",
    unsupported="key_creator_params")
BOOL_VALUE = Fields("value")
SIMPLE_HTTP_CACHE = "type.googleapis.com/envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig"
OTHER_STORAGE = ("type.googleapis.com/envoy.extensions.http.cache.file_system_http_cache.v3."
                 "FileSystemHttpCacheConfig",)


@dataclass(frozen=True)
class CacheConfig:
    runtime: ClassVar[str] = "cache"
    disabled: bool = False
    allowed_vary_headers: tuple = ()      # StringMatchers
    max_body_bytes: int = 0               # 0: only the store's own bound
    ignore_request_cache_control_header: bool = False


def parse(node: Node) -> CacheConfig | None:
    m = node.message(CACHE_CONFIG)
    if m is None:
        return None
    disabled = m.nested("disabled", _bool_value)
    storage = m.at("typed_config")
    if storage.value is None:
        if not disabled:
            storage.fail("required field is missing (the cache storage; required unless disabled)")
    else:
        _storage(storage)
    return CacheConfig(**present(
        disabled=disabled,
        allowed_vary_headers=m.repeated("allowed_vary_headers", string_matcher) or None,
        max_body_bytes=m.uint32("max_body_bytes"),
        ignore_request_cache_control_header=m.boolean("ignore_request_cache_control_header")))


def _storage(node: Node) -> None:
    if not isinstance(node.value, dict):
        node.fail("expected a mapping")
        return
    url = node.value.get("@type")
    type_node = node.child("@type", url)
    if url == SIMPLE_HTTP_CACHE:
        body = {key: value for key, value in node.value.items() if key != "@type"}
        Node(body, node.path, node.ctx).message(Fields(""))
    elif url in OTHER_STORAGE:
        type_node.fail(f"type '{url}' is {NOT_SUPPORTED} (supported: {SIMPLE_HTTP_CACHE})")
    elif url is None:
        type_node.fail("required field is missing")
    else:
        type_node.fail(f"unknown cache storage type {url!r} (expected {SIMPLE_HTTP_CACHE})")


def _bool_value(node: Node) -> bool | None:
    """A google.protobuf.BoolValue: proto3 JSON writes it as a bare boolean."""
    if isinstance(node.value, dict):
        m = node.message(BOOL_VALUE)
        return None if m is None else bool(m.boolean("value"))
    return node.boolean()
