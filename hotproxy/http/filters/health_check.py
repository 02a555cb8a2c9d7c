"""The health_check HTTP filter (envoy.filters.http.health_check), non-pass-through mode: a
request matching every configured header matcher is answered here, 200 while the server passes
health checks and 503 once an operator POSTed /healthcheck/fail (docs/envoy-reference.md).
While failing, every response of the connection manager also carries
``x-envoy-immediate-health-check-fail: true``, so that an Envoy in front stops sending at once."""
from __future__ import annotations

from ..router.matchers import compile_header_matcher

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
