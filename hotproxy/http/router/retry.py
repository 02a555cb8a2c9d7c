"""Retry decisions for one request, Envoy's RetryStateImpl without the I/O.

``RoutePolicy`` is a route's effective retry_policy (the route's own, else its virtual host's)
compiled once with the config. For each request the router asks it for a ``RetryState``, tells
the state how each attempt ended (``on_response`` / ``on_reset``) and gets back one of
``RETRY``, ``NO_RETRY``, ``LIMIT_EXCEEDED`` or ``OVERFLOW``; after a ``RETRY`` it waits
``backoff()`` seconds and makes the next attempt. The state keeps Envoy's counts
(``cluster.<name>.upstream_rq_retry*``) and holds a place of the cluster's max_retries circuit
breaker (``try_start_retry`` / ``end_retry``, upstream/cluster.py) from a decision to retry until
the next decision or ``release()``, as Envoy's resource manager does.
"""
from __future__ import annotations

import random
import time

from .matchers import compile_header_matcher

# retry_on conditions, as bits
_5XX, _GATEWAY_ERROR, _CONNECT_FAILURE, _RETRIABLE_4XX = 1, 2, 4, 8
_REFUSED_STREAM, _STATUS_CODES, _HEADERS, _RATE_LIMITED = 16, 32, 64, 128
_RESET, _RESET_BEFORE_REQUEST = 256, 512
_GRPC_CANCELLED, _GRPC_DEADLINE_EXCEEDED, _GRPC_RESOURCE_EXHAUSTED = 1024, 2048, 4096
_GRPC_UNAVAILABLE, _GRPC_INTERNAL = 8192, 16384
#: the gRPC conditions and the grpc-status each retries (Envoy reads grpc-status from the
#: response headers only: a trailers-only answer, not trailers after a body)
_GRPC_STATUS_BITS = {b"1": _GRPC_CANCELLED, b"4": _GRPC_DEADLINE_EXCEEDED,
                     b"8": _GRPC_RESOURCE_EXHAUSTED, b"14": _GRPC_UNAVAILABLE, b"13": _GRPC_INTERNAL}
_GRPC = (_GRPC_CANCELLED | _GRPC_DEADLINE_EXCEEDED | _GRPC_RESOURCE_EXHAUSTED | _GRPC_UNAVAILABLE
         | _GRPC_INTERNAL)
RETRY_ON_BITS = {
    "5xx": _5XX, "gateway-error": _GATEWAY_ERROR, "connect-failure": _CONNECT_FAILURE,
    "retriable-4xx": _RETRIABLE_4XX, "refused-stream": _REFUSED_STREAM,
    "retriable-status-codes": _STATUS_CODES, "retriable-headers": _HEADERS,
    "envoy-ratelimited": _RATE_LIMITED, "reset": _RESET,
    "reset-before-request": _RESET_BEFORE_REQUEST, "http3-post-connect-failure": 0,
    "cancelled": _GRPC_CANCELLED, "deadline-exceeded": _GRPC_DEADLINE_EXCEEDED,
    "resource-exhausted": _GRPC_RESOURCE_EXHAUSTED, "unavailable": _GRPC_UNAVAILABLE,
    "internal": _GRPC_INTERNAL,
}

# Why an attempt ended without a response (Envoy's stream reset reasons, as they read in bodies).
CONNECT_FAILURE = "remote connection failure"
CONNECT_TIMEOUT = "connection timeout"
OVERFLOW = "overflow"
LOCAL_RESET = "local reset"            # a per-try timeout ended the attempt
CONNECTION_TERMINATION = "connection termination"
PROTOCOL_ERROR = "protocol error"
_CONNECT_FAILURES = frozenset((CONNECT_FAILURE, CONNECT_TIMEOUT))


class UpstreamReset(Exception):
    """The upstream connection failed mid-exchange; ``reason`` is Envoy's reset reason."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason

# Decisions.
RETRY = "retry"
NO_RETRY = "no retry"
LIMIT_EXCEEDED = "limit exceeded"      # Envoy's URX
OVERFLOW_DECISION = "overflow"         # no free max_retries slot: Envoy's UO

DEFAULT_BASE_INTERVAL = 0.025
DEFAULT_BUFFER_LIMIT = 1024 * 1024      # a listener's per_connection_buffer_limit_bytes default
_GATEWAY_ERRORS = frozenset((502, 503, 504))


class RoutePolicy:
    """What a route's requests need to know about retries, compiled once.

    ``retry_on`` is 0 for a route that only asks for attempt counts; ``buffer_limit`` is the
    route's (or virtual host's) per_request_buffer_limit_bytes, None when unset.
    """

    __slots__ = ("retry_on", "num_retries", "per_try_timeout", "per_try_idle_timeout",
                 "base_ms", "max_ms", "status_codes", "response_checks", "request_checks",
                 "reset_headers", "reset_max_ms", "previous_hosts", "host_selection_attempts",
                 "count_in_request", "count_in_response", "buffer_limit", "hedge")

    def __init__(self, policy, include_in_request=False, include_in_response=False,
                 buffer_limit=None, where=""):
        self.count_in_request = include_in_request
        self.count_in_response = include_in_response
        self.buffer_limit = buffer_limit
        #: hedge_on_per_try_timeout: None until the first request reads it (retrying.start)
        self.hedge = None
        self.retry_on = 0
        self.num_retries = 1
        self.per_try_timeout = self.per_try_idle_timeout = None
        self.base_ms = int(DEFAULT_BASE_INTERVAL * 1000)
        self.max_ms = self.base_ms * 10
        self.status_codes = frozenset()
        self.response_checks = self.request_checks = self.reset_headers = ()
        self.reset_max_ms = 300_000
        self.previous_hosts = False
        self.host_selection_attempts = 1
        if policy is None:
            return
        for name in policy.retry_on:
            self.retry_on |= RETRY_ON_BITS[name]
        self.num_retries = policy.num_retries
        self.per_try_timeout = policy.per_try_timeout or None
        self.per_try_idle_timeout = policy.per_try_idle_timeout or None
        back_off = policy.retry_back_off
        if back_off is not None:
            self.base_ms = max(1, int(back_off.base_interval * 1000))
            self.max_ms = (max(self.base_ms, int(back_off.max_interval * 1000))
                           if back_off.max_interval is not None else self.base_ms * 10)
        self.status_codes = frozenset(policy.retriable_status_codes)
        self.response_checks = tuple(
            compile_header_matcher(m, f"{where}.retriable_headers[{i}]")
            for i, m in enumerate(policy.retriable_headers))
        self.request_checks = tuple(
            compile_header_matcher(m, f"{where}.retriable_request_headers[{i}]")
            for i, m in enumerate(policy.retriable_request_headers))
        limited = policy.rate_limited_retry_back_off
        if limited is not None:
            self.reset_headers = tuple((h.name.encode(), h.format) for h in limited.reset_headers)
            self.reset_max_ms = int(limited.max_interval * 1000)
        self.previous_hosts = policy.previous_hosts
        self.host_selection_attempts = policy.host_selection_retry_max_attempts

    def begin(self, head, path, stats, breaker, rng=random, control=None):
        """The RetryState of one request with head ``head`` (its headers, host, method) and
        ``path``; ``breaker`` has the cluster's ``try_start_retry()`` (False: no place, the
        overflow counted) and ``end_retry()``. ``control``: the request's x-envoy-retry-on, x-envoy-max-retries,
        x-envoy-retriable-status-codes and x-envoy-retriable-header-names values by name, for a
        request Envoy would trust with them (an internal one); None otherwise."""
        retry_on = self.retry_on
        num_retries = self.num_retries
        status_codes = self.status_codes
        response_checks = self.response_checks
        if control:
            retry_on, num_retries, status_codes, response_checks = _with_control_headers(
                control, retry_on, num_retries, status_codes, response_checks)
        if retry_on and self.request_checks and not any(
                check(head.headers, head.host, path, head.method, b"")
                for check in self.request_checks):
            retry_on = 0
        return RetryState(self, retry_on, num_retries, status_codes, response_checks, stats,
                          breaker, rng)


class RetryState:
    __slots__ = ("policy", "retry_on", "remaining", "attempts", "status_codes", "response_checks",
                 "stats", "breaker", "holding", "started", "attempted_hosts", "_interval",
                 "_rate_limited_ms", "_random")

    def __init__(self, policy, retry_on, num_retries, status_codes, response_checks, stats,
                 breaker, rng):
        self.policy = policy
        self.retry_on = retry_on
        self.remaining = num_retries
        self.attempts = 1
        self.status_codes = status_codes
        self.response_checks = response_checks
        self.stats = stats
        self.breaker = breaker
        self.holding = False       # a max_retries place is ours (a retry is outstanding)
        self.started = False       # some request byte went upstream on some attempt
        self.attempted_hosts = []
        self._interval = policy.base_ms
        self._rate_limited_ms = None
        self._random = rng

    @property
    def enabled(self):
        """Whether any retry is possible (else the request body need not be kept)."""
        return self.retry_on != 0

    def disable(self):
        """No more retries for this request (its body outgrew the buffer, or a 1xx went out)."""
        self.retry_on = 0

    def on_response(self, status, headers):
        """The decision for an attempt that got a response head (before any of it went out)."""
        would = self._would_retry_response(status, headers)
        if would and self.policy.reset_headers:
            self._rate_limited_ms = self._reset_interval(headers)
        return self._decide(would)

    def on_reset(self, reason):
        """The decision for an attempt that ended with no response: ``reason`` is one of the
        reset reasons above."""
        return self._decide(self.would_retry_reset(reason))

    def on_hedge(self):
        """The decision at a per-try timeout that leaves its attempt running (hedging): a new
        attempt whenever retries are left, whatever ``retry_on`` says (Envoy's
        shouldHedgeRetryPerTryTimeout)."""
        return self._decide(True)

    def would_retry_response(self, status, headers):
        """Whether a response would be retried, for an attempt already retried (hedged): no
        decision, nothing counted."""
        return self._would_retry_response(status, headers)

    def backoff(self):
        """Seconds to wait before the next attempt (after a RETRY), counted as Envoy counts."""
        if self._rate_limited_ms is not None:
            low = self._rate_limited_ms
            self._rate_limited_ms = None
            self.stats.upstream_rq_retry_backoff_ratelimited += 1
            return (self._random.randrange(low >> 1) + low) / 1000
        interval = self._interval
        maximum = self.policy.max_ms
        self._interval = interval * 2 if interval < maximum // 2 else maximum
        self.stats.upstream_rq_retry_backoff_exponential += 1
        return self._random.randrange(interval) / 1000

    def release(self):
        """The request is over: give back the max_retries place if a retry still holds it."""
        if self.holding:
            self.holding = False
            self.breaker.end_retry()

    def accepts(self, host):
        """Whether a host picked for the next attempt is fine (previous_hosts)."""
        return not self.policy.previous_hosts or host not in self.attempted_hosts

    def _decide(self, would):
        stats = self.stats
        if self.holding and not would:
            stats.upstream_rq_retry_success += 1   # the retry before this attempt worked
        self.release()
        if not would:
            return NO_RETRY
        if self.remaining <= 0:
            stats.upstream_rq_retry_limit_exceeded += 1
            return LIMIT_EXCEEDED
        self.remaining -= 1
        if not self.breaker.try_start_retry():     # counts upstream_rq_retry_overflow
            return OVERFLOW_DECISION
        self.holding = True
        self.attempts += 1
        stats.upstream_rq_retry += 1
        return RETRY

    def _would_retry_response(self, status, headers):
        retry_on = self.retry_on
        if not retry_on:
            return False
        for name, _ in headers:
            if name == b"x-envoy-ratelimited":
                return bool(retry_on & _RATE_LIMITED)
        if retry_on & _5XX and 500 <= status < 600:
            return True
        if retry_on & _GATEWAY_ERROR and status in _GATEWAY_ERRORS:
            return True
        if retry_on & _RETRIABLE_4XX and status == 409:
            return True
        if retry_on & _STATUS_CODES and status in self.status_codes:
            return True
        if retry_on & _HEADERS:
            for check in self.response_checks:
                if check(headers, b"", b"", b"", b""):
                    return True
        if retry_on & _GRPC:
            for name, value in headers:
                if name == b"grpc-status":
                    return bool(retry_on & _GRPC_STATUS_BITS.get(value.strip(), 0))
        return False

    def would_retry_reset(self, reason):
        retry_on = self.retry_on
        if not retry_on or reason == OVERFLOW:
            return False
        if reason in _CONNECT_FAILURES and retry_on & _CONNECT_FAILURE:
            return True
        if retry_on & _RESET_BEFORE_REQUEST and not self.started:
            return True
        return bool(retry_on & (_RESET | _5XX | _GATEWAY_ERROR))

    def _reset_interval(self, headers):
        """Milliseconds a rate-limited response asks to wait (its first usable reset header),
        or None: then the exponential back-off applies."""
        for name, kind in self.policy.reset_headers:
            for header, value in headers:
                if header != name:
                    continue
                try:
                    number = int(value.strip())
                except ValueError:
                    continue
                if kind == "UNIX_TIMESTAMP":
                    number -= int(time.time())
                milliseconds = number * 1000
                if 1 < milliseconds <= self.policy.reset_max_ms:
                    return milliseconds
        return None


def _with_control_headers(control, retry_on, num_retries, status_codes, response_checks):
    """Envoy's merge of the x-envoy-* retry request headers into the route's policy."""
    value = control.get(b"x-envoy-retry-on")
    if value is not None:
        for name in value.decode("latin-1").split(","):
            retry_on |= RETRY_ON_BITS.get(name.strip(), 0)
    value = control.get(b"x-envoy-retry-grpc-on")
    if value is not None:
        for name in value.decode("latin-1").split(","):
            retry_on |= RETRY_ON_BITS.get(name.strip(), 0) & _GRPC
    value = control.get(b"x-envoy-max-retries")
    if value is not None and retry_on and value.isdigit():
        num_retries = int(value)
    value = control.get(b"x-envoy-retriable-status-codes")
    if value is not None:
        status_codes = status_codes | {int(code) for code in value.split(b",")
                                       if code.strip().isdigit()}
    value = control.get(b"x-envoy-retriable-header-names")
    if value is not None:
        names = [name.strip().lower() for name in value.split(b",") if name.strip()]
        response_checks = response_checks + tuple(_present_check(name) for name in names)
    return retry_on, num_retries, status_codes, response_checks


def _present_check(name):
    def check(headers, host, path, method, scheme):
        return any(header == name for header, _ in headers)
    return check
