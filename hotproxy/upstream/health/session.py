"""One host's checks: a greenlet that checks, records the result and sleeps until the next.

Each check (connecting included) has ``timeout`` to finish; a timeout, a refused or reset
connection or an unreadable response is a NETWORK failure, an HTTP status outside
expected_statuses an ACTIVE one. HTTP checks keep their connection for the next check while the
host allows it (Envoy's reuse_connection default); a kept connection the host closed meanwhile is
replaced once, within the same check. TCP checks open a connection per check.
"""
from __future__ import annotations

import logging

import gevent
from gevent import socket

from ...sockio import address_label
from ..connect import ConnectFailure
from .http_probe import ProbeError, ResponseReader
from .schedule import initial_delay, next_interval
from .state import ACTIVE, NETWORK, PASSIVE, HostHealth
from .tcp_probe import TcpMatcher

log = logging.getLogger("hotproxy.health_check")

RECV_BYTES = 65536


class CheckFailed(Exception):
    def __init__(self, failure_type, status=0, immediate_fail=False):
        super().__init__(failure_type)
        self.failure_type = failure_type
        self.status = status
        self.immediate_fail = immediate_fail


class HostSession:
    """``address`` is the host's own (ip, port), as workers balance over it; ``check_address``
    where its checks go, over ``transport`` (an upstream/transport.py UpstreamTransport: TLS, a
    PROXY header; None: plain text). ``checker`` (checker.py) records results and is told of
    changes."""

    def __init__(self, checker, address, check_address, transport=None):
        self.checker = checker
        self.address = address
        self.label = address_label(address)
        self.check_address = check_address
        self.transport = transport
        config = checker.health_check
        self.health = HostHealth(config.unhealthy_threshold, config.healthy_threshold,
                                 config.always_log_health_check_failures)
        self.checked = False          # its first check is done (or it resumed a known state)
        self._sock = None
        self._greenlet = None

    def start(self):
        self._greenlet = gevent.spawn(self._run)

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        self._close()

    def _run(self):
        config = self.checker.health_check
        delay = initial_delay(config)
        if delay:
            gevent.sleep(delay)
        while True:
            passed, transition = self.check_and_record()
            gevent.sleep(next_interval(config, passed, transition, self.checker.has_traffic()))

    def check_and_record(self):
        """One check, its result applied: (passed, transition)."""
        checker = self.checker
        checker.count("attempt")
        try:
            self._check()
        except CheckFailed as failure:
            self._close()
            checker.count("failure")
            if failure.failure_type == NETWORK:
                checker.count("network_failure")
            was_healthy = self.health.healthy
            transition, events = self.health.failed_check(failure.failure_type, failure.status,
                                                          failure.immediate_fail)
            if was_healthy and not self.health.healthy:
                log.warning("cluster %s: host %s is unhealthy (%s failure%s)", checker.name, self.label,
                            failure.failure_type, f", status {failure.status}" if failure.status else "")
            self._recorded(events)
            return False, transition
        checker.count("success")
        was_healthy = self.health.healthy
        transition, events = self.health.passed()
        if not was_healthy and self.health.healthy:
            log.info("cluster %s: host %s is healthy", checker.name, self.label)
        self._recorded(events, passed=True)
        return True, transition

    def passive_failure(self):
        """A proxied response said x-envoy-immediate-health-check-fail: Envoy's setUnhealthy
        (PASSIVE, not retriable): failed and excluded now, counted as a passive failure, the
        next check left where it was. True when only its exclusion changed (a host that turns
        unhealthy is pushed to the workers by ``host_checked``)."""
        checker = self.checker
        checker.count("failure")
        checker.count("passive_failure")
        before = (self.health.failed, self.health.excluded)
        _transition, events = self.health.failed_check(PASSIVE, immediate_fail=True)
        if not before[0]:
            log.warning("cluster %s: host %s is unhealthy (x-envoy-immediate-health-check-fail)",
                        checker.name, self.label)
        self._recorded(events)
        return before == (True, False)

    def _recorded(self, events, passed=False):
        self.checked = True
        self.checker.host_checked(self, events, passed)

    def _check(self):
        config = self.checker.health_check
        try:
            with gevent.Timeout(config.timeout):
                if config.http is not None:
                    self._http_check(config.http)
                else:
                    self._tcp_check(config.tcp)
        except gevent.Timeout:
            raise CheckFailed(NETWORK) from None
        except (OSError, ProbeError, ConnectFailure):
            raise CheckFailed(NETWORK) from None

    def _connect(self):
        sock = socket.socket(socket.AF_INET6 if ":" in self.check_address[0] else socket.AF_INET,
                             socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(self.check_address)
        except OSError:
            sock.close()
            raise
        if self.transport is not None:      # closes the socket when it fails
            sock = self.transport.establish(sock, _CheckedHost(self.address), None)
        return sock

    def _http_check(self, http):
        request = self.checker.http_request
        reused = self._sock is not None
        if not reused:
            self._sock = self._connect()
        try:
            verdict = self._exchange(request, http.expected_statuses, self._sock)
        except _ClosedBeforeResponse:
            if not reused:
                raise OSError("connection closed before a response") from None
            self._close()   # the host closed our idle connection: one fresh try
            self._sock = self._connect()
            try:
                verdict = self._exchange(request, http.expected_statuses, self._sock)
            except _ClosedBeforeResponse:
                raise OSError("connection closed before a response") from None
        if not verdict.keep_alive:
            self._close()
        if not verdict.passed:
            raise CheckFailed(ACTIVE, verdict.status, verdict.immediate_fail)

    @staticmethod
    def _exchange(request, expected_statuses, sock):
        reader = ResponseReader(expected_statuses)
        got_any = False
        try:
            sock.sendall(request)
            while True:
                data = sock.recv(RECV_BYTES)
                if not data:
                    if not got_any:
                        raise _ClosedBeforeResponse()
                    return reader.feed_eof()
                got_any = True
                verdict = reader.feed(data)
                if verdict is not None:
                    return verdict
        except (ConnectionResetError, BrokenPipeError):
            if not got_any:
                raise _ClosedBeforeResponse() from None
            raise

    def _tcp_check(self, tcp):
        sock = self._connect()
        try:
            if tcp.send:
                sock.sendall(tcp.send)
            matcher = TcpMatcher(tcp.receive)
            while matcher.needs_reply:
                data = sock.recv(RECV_BYTES)
                if not data:
                    raise OSError("connection closed before the expected reply")
                if matcher.feed(data):
                    break
        finally:
            sock.close()

    def _close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class _ClosedBeforeResponse(Exception):
    pass


class _CheckedHost:
    """What a transport reads of a host: its name for SNI (none: the TLS context's ``sni``)."""

    __slots__ = ("address", "hostname")

    def __init__(self, address):
        self.address = address
        self.hostname = ""
