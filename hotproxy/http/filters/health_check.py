"""The health_check HTTP filter (envoy.filters.http.health_check), non-pass-through mode: a
request matching every configured header matcher is answered here, 200 while the server passes
health checks and 503 once an operator POSTed /healthcheck/fail (docs/envoy-reference.md).
While failing, every response of the connection manager also carries
``x-envoy-immediate-health-check-fail: true``, so that an Envoy in front stops sending at once."""
from __future__ import annotations

from ..router.matchers import compile_header_matcher
from ...stats.schema import stat_set
from .api import CONTINUE, FilterFactory, HttpFilter

FAILED_HEADER = (b"x-envoy-immediate-health-check-fail", b"true")
_SCHEME = b"http"  # :scheme of a plain-text listener, whatever x-forwarded-proto claims


class HealthCheckFilter:
    def __init__(self, config, service_cluster=""):
        self._checks = [compile_header_matcher(matcher, f"headers[{index}]")
                        for index, matcher in enumerate(config.headers)]
        # Envoy names the answering proxy's own cluster (node.cluster) when it has one.
        self._cluster_header = ([(b"x-envoy-upstream-healthchecked-cluster", service_cluster.encode())]
                                if service_cluster else [])

    def matches(self, head, target):
        return all(check(head.headers, head.host, target, head.method, _SCHEME) for check in self._checks)

    def reply(self, failed):
        """(status, extra headers) of the answer to a health check."""
        if failed:
            return 503, [*self._cluster_header, FAILED_HEADER]
        return 200, list(self._cluster_header)


HealthCheckStats = stat_set("HealthCheckStats", ("request_total", "ok", "failed"))


class HealthCheckFactory(FilterFactory):
    """The health_check filter in the chain: a matching request is answered here."""

    def __init__(self, name, config, server, stat_prefix):
        self.name = name
        self.checker = HealthCheckFilter(config, server.service_cluster)
        self.server = server
        self.stats = HealthCheckStats()
        self.stat_prefix = stat_prefix + "health_check."
        self.filter = _HealthCheckHook(self)

    def create(self, stream):
        return self.filter

    def stat_sets(self):
        return [(self.stat_prefix, self.stats)]


class _HealthCheckHook(HttpFilter):
    def __init__(self, factory):
        self.factory = factory

    def decode_headers(self, stream, end_stream):
        factory = self.factory
        head = stream.head
        if not factory.checker.matches(head, stream.target):
            return CONTINUE
        failed = factory.server.health_check_failed
        stats = factory.stats
        stats.request_total += 1
        if failed:
            stats.failed += 1
        else:
            stats.ok += 1
        status, extra = factory.checker.reply(failed)
        return stream.send_local_reply(status, b"", extra)
