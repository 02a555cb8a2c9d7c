"""What an operator sets through the admin interface, carried out by the arbiter on every worker:
failing health checks (/healthcheck/fail, /healthcheck/ok), log levels (/logging) and draining
listeners (/drain_listeners).

What is set stays set for workers that do not exist yet: each worker that becomes ready is told
(``bring_up_to_date``, a hook of the supervisor's ``on_worker_ready``), whatever its generation.
"""
from __future__ import annotations

import logging

import gevent

from .messages import CLOSE_CONNECTIONS, HEALTHCHECK, LOG_LEVEL, STOP_LISTENERS

log = logging.getLogger("hotproxy.arbiter")


class Controls:
    def __init__(self, supervisor, sockets, drain_time):
        """``sockets``: the arbiter's ListenSockets; ``drain_time``: --drain-time-s."""
        self.health_check_failed = False
        self.log_overrides = []      # (level, component) set through /logging, replayed to new workers
        self._supervisor = supervisor
        self._sockets = sockets
        self._drain_time = drain_time

    def bring_up_to_date(self, child):
        """A worker that just became ready learns what the operator set before it existed."""
        if self.health_check_failed:
            child.send({"t": HEALTHCHECK, "failed": True})
        for level, component in self.log_overrides:
            child.send({"t": LOG_LEVEL, "level": level, "logger": component})

    def set_health_check_failed(self, failed):
        self.health_check_failed = failed
        log.warning("health checks now %s", "fail" if failed else "pass")
        self._supervisor.broadcast({"t": HEALTHCHECK, "failed": failed}, draining=True)

    def broadcast_log_level(self, level, component):
        if component is None:
            self.log_overrides = []
        self.log_overrides.append((level, component))
        self._supervisor.broadcast({"t": LOG_LEVEL, "level": level, "logger": component}, draining=True)

    def drain_listeners(self, graceful, inbound_only):
        """Admin /drain_listeners, as Envoy does it: the listeners (only INBOUND ones with
        ``inbound_only``) stop accepting for good, and their sockets close here too, so that new
        connections are refused rather than queued. Connections already open run on. With
        ``graceful`` the listeners first keep accepting for --drain-time-s while their HTTP
        connections close one by one."""
        serving = self._supervisor.serving
        if serving is None:
            return
        names = [listener.name for listener in serving.bootstrap.listeners
                 if not inbound_only or listener.traffic_direction == "INBOUND"]
        if not names:
            return
        if graceful:
            self._supervisor.broadcast({"t": CLOSE_CONNECTIONS, "listeners": names,
                                        "drain_time": self._drain_time})
            gevent.spawn_later(self._drain_time, self._stop_listeners, serving, names)
        else:
            self._stop_listeners(serving, names)

    def _stop_listeners(self, serving, names):
        self._supervisor.broadcast({"t": STOP_LISTENERS, "listeners": names})
        for name in names:
            self._sockets.close_drained(name, serving.sockets.get(name))
