"""The cache HTTP filter (envoy.filters.http.cache) with in-memory storage: GET and HEAD
requests answered from stored responses while they are fresh, and validated with the origin
(If-None-Match / If-Modified-Since) once they are not; a 304 refreshes the stored response and
the client gets it whole.

The rules (what may be served, stored, and when to validate) are cache_rules.py's; the storage,
one per worker and bounded, is cache_store.py's. A response is stored only once it completed:
the first one streams through to its client while it is copied, and a response that ends early
or outgrows the bound is not kept.
"""
from __future__ import annotations

import time

from ...matching import compile_string_matcher
from .api import CONTINUE, STOP, FilterFactory, HttpFilter
from .cache_rules import (CacheControl, current_age, request_control, request_is_cacheable,
                          requires_validation, response_is_cacheable, updated_headers,
                          validators, vary_key, vary_names)
from .cache_store import CacheStore, Entry

DETAILS = "cache.response_from_cache_filter"
#: not stored: the connection's own, and chunked framing (a stored body's length is known)
_NOT_STORED = frozenset((b"connection", b"keep-alive", b"transfer-encoding", b"proxy-connection",
                         b"upgrade"))
_NO_CONTROL = CacheControl()


def stored_headers(headers):
    return [pair for pair in headers if pair[0] not in _NOT_STORED]


def served_headers(entry, age=None):
    """The stored headers with the body's length in Content-Length's place, and the Age last
    (none for a response just validated, as Envoy serves it)."""
    length = b"%d" % len(entry.body)
    headers = [(name, length) if name == b"content-length" else (name, value)
               for name, value in entry.headers if name != b"age"]
    if not any(name == b"content-length" for name, _ in headers):
        headers.append((b"content-length", length))
    if age is not None:
        headers.append((b"age", b"%d" % age))
    return headers


class CacheFactory(FilterFactory):
    def __init__(self, config, context, store=None, clock=time.time):
        self.config = config
        self.store = store or CacheStore()
        tests = [compile_string_matcher(m, f"allowed_vary_headers[{i}]")
                 for i, m in enumerate(config.allowed_vary_headers)]
        self.vary_allowed = lambda name: any(test(name) for test in tests)
        limit = self.store.max_entry_bytes
        self.max_body = min(config.max_body_bytes, limit) if config.max_body_bytes else limit
        self.ignore_request_control = config.ignore_request_cache_control_header
        self.clock = clock

    def create(self, stream):
        if self.config.disabled:
            return None
        return CacheFilter(self)


class CacheFilter(HttpFilter):
    __slots__ = ("factory", "key", "request_headers", "serving", "validating", "replacing", "fill",
                 "fill_size", "inserting")

    def __init__(self, factory):
        self.factory = factory
        self.key = None
        self.request_headers = None
        self.serving = None         # (entry, age) of a hit being answered
        self.validating = None      # the stale entry a conditional request is asking about
        self.replacing = None       # the body of a validated entry, replacing the 304's
        self.fill = None            # (status, headers, Vary names, vary key, response time, body)
        self.fill_size = 0
        self.inserting = False

    def decode_headers(self, stream, end_stream):
        request = stream.request
        if not request_is_cacheable(request.method, request.headers):
            return CONTINUE
        factory = self.factory
        control = _NO_CONTROL if factory.ignore_request_control else request_control(request.headers)
        if control.no_store:
            return CONTINUE
        store = factory.store
        scheme = b"http" if stream.connection.tls is None else b"https"
        self.key = key = (scheme, request.host, request.target)
        self.request_headers = list(request.headers)
        self.inserting = request.method == b"GET"
        names = store.vary_of(key)
        entry = store.lookup(key, vary_key(names, request.headers)) if names is not None else None
        if entry is None:
            return CONTINUE
        now = factory.clock()
        age = current_age(entry.headers, entry.response_time, now)
        if not requires_validation(control, entry.headers, age, factory.ignore_request_control):
            self.serving = entry, age
            self.inserting = False
            return stream.send_local_reply(entry.status, entry.body, details=DETAILS)
        conditions = validators(entry.headers) if self.inserting else ()
        if conditions:
            self.validating = entry
            request.headers.extend(conditions)
        return CONTINUE

    def encode_headers(self, stream, response, end_stream):
        if self.serving is not None:
            entry, age = self.serving
            keep = [pair for pair in response.headers if pair == (b"connection", b"close")]
            response.status = entry.status
            response.headers[:] = served_headers(entry, age) + keep
            return CONTINUE
        factory = self.factory
        entry = self.validating
        if entry is not None and response.status == 304:
            refreshed = Entry(entry.status, updated_headers(entry.headers, stored_headers(response.headers)),
                              entry.body, factory.clock(), entry.vary, entry.vary_key)
            factory.store.insert(self.key, refreshed)
            response.status = refreshed.status
            response.headers[:] = served_headers(refreshed) + [
                pair for pair in response.headers if pair == (b"connection", b"close")]
            self.replacing = refreshed.body
            return STOP
        if not self.inserting:
            return CONTINUE
        headers = response.headers
        if not response_is_cacheable(response.status, headers, factory.vary_allowed):
            if entry is not None:       # the origin's new answer may not be kept: drop the old
                factory.store.remove(self.key, entry.vary_key)
            return CONTINUE
        names = vary_names(headers)
        self.fill = (response.status, stored_headers(headers), names,
                     vary_key(names, self.request_headers), factory.clock(), [])
        if end_stream:
            self._store()
        return CONTINUE

    def encode_data(self, stream, data, end_stream):
        if self.replacing is not None:
            if not end_stream:
                return b""
            body, self.replacing = self.replacing, None
            return body
        fill = self.fill
        if fill is not None:
            self.fill_size += len(data)
            if self.fill_size > self.factory.max_body:
                self.fill = None
            else:
                fill[5].append(bytes(data))
                if end_stream:
                    self._store()
        return CONTINUE

    def on_stream_end(self, stream):
        self.fill = None

    def _store(self):
        status, headers, names, key_values, response_time, body = self.fill
        self.fill = None
        self.factory.store.insert(self.key, Entry(status, headers, b"".join(body), response_time,
                                                  names, key_values))


def factory(config, context):
    return CacheFactory(config, context)
