"""The ext_authz HTTP filter (envoy.filters.http.ext_authz) with an HTTP or a gRPC authorization
service. With ``grpc_service`` each request is checked by a ``Check`` call over the cluster's
HTTP/2 upstream (ext_authz_grpc.py), its messages and what the answer decides being
ext_authz_check.py's; the answer is applied here as an HTTP service's is.

With ``http_service`` each request is first checked by an HTTP/1.1 request of the proxy's own to
the service's cluster (http/side_request.py), made from the stream's greenlet, which waits for
the answer:

- the check request has the client's method, ``path_prefix`` + its path, its Host, a
  Content-Length (0, or the size of the body sent with ``with_request_body``), and those of the
  client's headers the request matchers allow (Authorization always), then ``headers_to_add``;
- a 200 lets the request go on, with the service's headers the response matchers select set on
  it, appended to it, added to the client's response, or kept as dynamic metadata; names listed
  in its ``x-envoy-auth-headers-to-remove`` are removed from the request;
- a 5xx, a network failure or a timeout is an error: ``status_on_error`` (403) with flag UAEX,
  or the request goes on under ``failure_mode_allow``;
- any other status denies: the client gets that status, the service's body and the headers
  ``allowed_client_headers`` selects (all but Host when it is unset), flag UAEX.

``filter_enabled`` and ``deny_at_disable`` read their ``runtime_key`` in the layered runtime, as
Envoy's do; without a key the filter never calls into the runtime.

Stats as Envoy's, under ``http.<stat_prefix>.ext_authz.[<filter stat_prefix>.]``.
"""
from __future__ import annotations

import time

from ...matching import compile_string_matcher
from ...runtime import get_boolean
from ...stats.schema import stat_set
from ..side_request import SideRequestFailed, send
from .api import CONTINUE, STOP, FilterFactory, HttpFilter, header_value, set_header
from .ext_authz_check import DENIED as DENIED_KIND
from .ext_authz_check import ERROR as ERROR_KIND
from .ext_authz_check import FAILED, check_request, decide
from .route_policy import always, drawer

ExtAuthzStats = stat_set("ExtAuthzStats", ("ok", "denied", "error", "disabled",
                                           "failure_mode_allowed"))

METADATA_NAMESPACE = "envoy.filters.http.ext_authz"
FLAG = "UAEX"
DENIED, ERROR = "ext_authz_denied", "ext_authz_error"
PARTIAL_BODY = b"x-envoy-auth-partial-body"
FAILURE_MODE_HEADER = (b"x-envoy-auth-failure-mode-allowed", b"true")
HEADERS_TO_REMOVE = b"x-envoy-auth-headers-to-remove"
# Envoy's request matcher always lets these through (Host, method and path are the request's own)
_ALWAYS_SENT = (b"authorization",)
# The client headers of a denial always include these when allowed_client_headers is set
_DENIAL_DEFAULTS = (b"content-length", b"www-authenticate", b"location")
_NOT_COPIED = frozenset((b"host", b"content-length", b"transfer-encoding", b"connection",
                         b"x-envoy-internal", b"x-envoy-expected-rq-timeout-ms"))
# the connection manager writes its own Server header on every response, a denial's too
_NOT_TO_CLIENT = frozenset((b"host", b"server"))
# The service never touches how the request is framed or routed to the upstream: Host, the
# framing and hop-by-hop headers are left out of what it sets, appends or removes.
_NOT_MUTABLE = frozenset((b"host", b"content-length", b"transfer-encoding", b"connection",
                          b"keep-alive", b"upgrade", b"te", b"proxy-connection", b"expect"))


def name_matcher(matchers, where, always=()):
    """A test of a header name (lower-case bytes) against StringMatchers, or None when the
    list is empty and there is nothing ``always`` matched."""
    tests = [compile_string_matcher(m, f"{where}[{i}]") for i, m in enumerate(matchers)]
    if not tests and not always:
        return None
    fixed = frozenset(always)
    return lambda name: name in fixed or any(test(name) for test in tests)


class CheckRules:
    """The header selection of one filter config, compiled once (sans-IO)."""

    def __init__(self, config):
        service = config.http_service
        self.path_prefix = service.path_prefix.encode()
        # what Envoy's async client adds to the check request
        self.internal = [(b"x-envoy-internal", b"true"),
                         (b"x-envoy-expected-rq-timeout-ms", b"%d" % round(service.timeout * 1000))]
        self.request_allowed = name_matcher(config.allowed_headers, "allowed_headers", _ALWAYS_SENT)
        self.headers_to_add = [(k.encode(), v.encode()) for k, v in service.headers_to_add]
        self.upstream = name_matcher(service.allowed_upstream_headers, "allowed_upstream_headers")
        self.upstream_append = name_matcher(service.allowed_upstream_headers_to_append,
                                            "allowed_upstream_headers_to_append")
        self.client_on_success = name_matcher(service.allowed_client_headers_on_success,
                                              "allowed_client_headers_on_success")
        self.to_metadata = name_matcher(service.dynamic_metadata_from_headers,
                                        "dynamic_metadata_from_headers")
        client = name_matcher(service.allowed_client_headers, "allowed_client_headers",
                              _DENIAL_DEFAULTS if service.allowed_client_headers else ())
        self.client = client or (lambda name: name not in _NOT_TO_CLIENT)

    def check_headers(self, request, partial=None, body_size=0):
        """The check request's headers: Host, then the client's allowed ones (values of a
        repeated name joined by a comma), then ``headers_to_add``."""
        joined = {}
        allowed = self.request_allowed
        for name, value in request.headers:
            if name in _NOT_COPIED or not allowed(name):
                continue
            joined[name] = joined[name] + b"," + value if name in joined else value
        if partial is not None and allowed(PARTIAL_BODY):
            joined[PARTIAL_BODY] = b"true" if partial else b"false"
        headers = [(b"host", request.host or b""), (b"content-length", b"0")]
        headers.extend(joined.items())
        for name, value in self.headers_to_add:
            set_header(headers, name, value)
        headers += self.internal
        return headers

    def check_target(self, request):
        return self.path_prefix + request.target

    def allowed(self, response):
        """(headers to set, to append, to remove, response headers to add, metadata) of a 200."""
        to_set, to_append, to_remove, to_client, metadata = [], [], [], [], {}
        for name, value in response.headers:
            if name == HEADERS_TO_REMOVE:
                to_remove.extend(token.strip().lower() for token in value.split(b",") if token.strip())
                continue
            if self.upstream is not None and self.upstream(name):
                to_set.append((name, value))
            if self.upstream_append is not None and self.upstream_append(name):
                to_append.append((name, value))
            if self.client_on_success is not None and self.client_on_success(name):
                to_client.append((name, value))
            if self.to_metadata is not None and self.to_metadata(name):
                metadata[name.decode("latin-1")] = value.decode("latin-1")
        return to_set, to_append, to_remove, to_client, metadata

    def denied_headers(self, response):
        return [(name, value) for name, value in response.headers
                if name != HEADERS_TO_REMOVE and name != b"server" and self.client(name)]


class ExtAuthzFactory(FilterFactory):
    def __init__(self, config, context, name="envoy.filters.http.ext_authz"):
        self.name = name
        self.config = config
        self.cluster_manager = context.cluster_manager
        if config.grpc_service is not None:
            from .ext_authz_grpc import GrpcCheck
            self.rules = None
            self.grpc = GrpcCheck(context.cluster_manager, config.grpc_service)
            self.grpc_allowed = name_matcher(config.allowed_headers, "allowed_headers")
        else:
            self.rules = CheckRules(config)
            self.grpc = None
        self.stats = ExtAuthzStats()
        prefix = f"{config.stat_prefix}." if config.stat_prefix else ""
        self.stat_prefix = f"{context.stat_prefix}ext_authz.{prefix}"
        #: ``enabled() -> bool`` per request: every request without filter_enabled
        self.enabled = always if config.filter_enabled is None else drawer(config.filter_enabled)

    def deny_at_disable(self):
        """deny_at_disable's RuntimeFeatureFlag: the key's boolean, else its default_value."""
        config = self.config
        key = config.deny_at_disable_runtime_key
        return get_boolean(key, config.deny_at_disable) if key else config.deny_at_disable

    def create(self, stream):
        return ExtAuthzFilter(self)

    def stat_sets(self):
        return ((self.stat_prefix, self.stats),)


class ExtAuthzFilter(HttpFilter):
    """One request's check; holds the buffered body under ``with_request_body``."""

    __slots__ = ("factory", "buffering", "body", "size", "client_headers", "denial_headers")

    def __init__(self, factory):
        self.factory = factory
        self.buffering = False
        self.body = []
        self.size = 0
        self.client_headers = None
        self.denial_headers = None

    def decode_headers(self, stream, end_stream):
        factory = self.factory
        per_route = stream.route_config(factory.name)
        if per_route is not None and getattr(per_route, "disabled", False):
            return CONTINUE
        config = factory.config
        if not factory.enabled():
            factory.stats.disabled += 1
            if factory.deny_at_disable():
                return stream.send_local_reply(config.status_on_error, details=ERROR, flag=FLAG)
            return CONTINUE
        skip_body = per_route is not None and per_route.disable_request_body_buffering
        if config.with_request_body is not None and not end_stream and not skip_body:
            self.buffering = True
            return STOP
        return self._check(stream, b"", None)

    def decode_data(self, stream, data, end_stream):
        if not self.buffering:
            return CONTINUE
        settings = self.factory.config.with_request_body
        limit = settings.max_request_bytes
        self.body.append(bytes(data))
        self.size += len(data)
        if not settings.allow_partial_message and self.size > limit:
            self.buffering = False
            return stream.send_local_reply(413, b"Payload Too Large",
                                           details="request_payload_too_large")
        if not end_stream and self.size < limit:
            return STOP
        self.buffering = False
        body = b"".join(self.body)
        self.body = []
        return self._check(stream, body[:limit], self.size >= limit)

    def encode_headers(self, stream, response, end_stream):
        if self.client_headers:
            response.headers.extend(self.client_headers)
        elif self.denial_headers:
            # the service's headers replace the local reply's of the same name, as Envoy's do
            names = {name for name, _ in self.denial_headers}
            response.headers[:] = [pair for pair in response.headers if pair[0] not in names]
            response.headers.extend(self.denial_headers)
        return CONTINUE

    def _check(self, stream, body, partial):
        if self.factory.grpc is not None:
            return self._check_grpc(stream, body, partial)
        return self._check_http(stream, body, partial)

    def _check_grpc(self, stream, body, partial):
        from .ext_authz_grpc import CallFailed
        factory = self.factory
        settings = factory.config.with_request_body
        per_route = stream.route_config(factory.name)
        message = check_request(
            stream, factory.grpc_allowed,
            per_route.context_extensions if per_route is not None else (),
            body if settings is not None else None, bool(partial),
            settings is not None and settings.pack_as_bytes)
        try:
            decision = decide(factory.grpc.call(message))
        except (CallFailed, ValueError):
            decision = FAILED
        if decision.kind is ERROR_KIND:
            return self._failed(stream, decision.status, decision.body, decision.headers)
        if decision.kind is DENIED_KIND:
            factory.stats.denied += 1
            self.denial_headers = decision.headers
            return stream.send_local_reply(decision.status, decision.body, details=DENIED,
                                           flag=FLAG)
        factory.stats.ok += 1
        self._apply(stream, decision.to_set, decision.to_append, decision.to_remove,
                    decision.to_client, decision.metadata, join=True)
        return CONTINUE

    def _failed(self, stream, status=None, body=b"", headers=()):
        """The service failed: ``status_on_error`` (or the service's own error answer), or on
        under ``failure_mode_allow``."""
        config, stats = self.factory.config, self.factory.stats
        stats.error += 1
        if not config.failure_mode_allow:
            self.denial_headers = headers
            return stream.send_local_reply(status or config.status_on_error, body, details=ERROR,
                                           flag=FLAG)
        stats.failure_mode_allowed += 1
        if config.failure_mode_allow_header_add:
            stream.request.headers.append(FAILURE_MODE_HEADER)     # added, as Envoy adds it
        return CONTINUE

    def _check_http(self, stream, body, partial):
        factory = self.factory
        config, rules, stats = factory.config, factory.rules, factory.stats
        service = config.http_service
        request = stream.request
        sent_at = time.monotonic()
        try:
            answer = send(factory.cluster_manager, service.cluster, request.method,
                          rules.check_target(request), rules.check_headers(request, partial),
                          body, service.timeout)
        except SideRequestFailed:
            answer = None
        else:
            # Envoy's async client adds it to the service's answer, and a denial passes it on
            answer.headers.append((b"x-envoy-upstream-service-time",
                                   b"%d" % ((time.monotonic() - sent_at) * 1000)))
        if answer is None or answer.status >= 500:
            return self._failed(stream)
        if answer.status != 200:
            stats.denied += 1
            self.denial_headers = rules.denied_headers(answer)
            return stream.send_local_reply(answer.status, answer.body, details=DENIED, flag=FLAG)
        stats.ok += 1
        self._apply(stream, *rules.allowed(answer))
        return CONTINUE

    def _apply(self, stream, to_set, to_append, to_remove, to_client, metadata, join=False):
        """``join``: an appended value joins the request's first one with a comma (the gRPC
        service's ``append``), rather than being added beside it (the HTTP service's)."""
        headers = stream.request.headers
        to_set = [pair for pair in to_set if pair[0] not in _NOT_MUTABLE]
        to_append = [pair for pair in to_append if pair[0] not in _NOT_MUTABLE]
        for name, value in to_set:
            # Envoy's setCopy: the old values go, the new one comes last
            headers[:] = [pair for pair in headers if pair[0] != name]
            headers.append((name, value))
        for name, value in to_append:
            at = next((i for i, pair in enumerate(headers) if pair[0] == name), None) if join else None
            if at is None:
                headers.append((name, value))
            else:
                headers[at] = (name, headers[at][1] + b"," + value)
        removed = False
        for name in to_remove:
            if name in _NOT_MUTABLE or name[:1] == b":" or header_value(headers, name) is None:
                continue
            headers[:] = [pair for pair in headers if pair[0] != name]
            removed = True
        for key, value in metadata.items():
            stream.info.set_metadata(METADATA_NAMESPACE, key, value)
        self.client_headers = to_client
        if self.factory.config.clear_route_cache and (to_set or to_append or removed):
            stream.clear_route_cache()


def factory(config, context):
    return ExtAuthzFactory(config, context)
