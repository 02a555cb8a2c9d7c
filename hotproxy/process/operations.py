"""The arbiter's side of stats and admin: merging what workers ship, answering admin reads, and
carrying out what an operator asks for (health-check state, log levels, draining listeners).

A mixin of ``Arbiter`` (process/arbiter.py), kept apart so that each file holds one concern:
the arbiter's lifecycle there, its operations here.
"""
from __future__ import annotations

import logging
import time

import gevent
from gevent.event import Event

from .. import __version__
from ..admin.endpoints import build_endpoints
from ..accesslog.loggers import AccessLoggers
from ..admin.server import AdminRouter, AdminServer
from .generation import DRAINING, READY, STARTING
from .sockets import bind_listener

log = logging.getLogger("hotproxy.arbiter")

STATS_FLUSH_TIMEOUT_S = 1.0
LIVE, DRAINING_STATE, PRE_INITIALIZING = 0, 1, 2


def _version_number(version):
    """``server.version`` is an integer in Envoy; "1.2.3" → 10203."""
    major, minor, patch = (int(part) for part in (version.split(".") + ["0", "0"])[:3])
    return major * 10000 + minor * 100 + patch


class ArbiterOperations:
    # --- the serving config and the admin server

    def _now_serving(self, bootstrap, text):
        self.bootstrap = bootstrap
        self.config_text = text
        self.config_loaded_at = time.time()

    def _serve_admin(self, bootstrap):
        """Bind the admin address ``bootstrap`` names (before anything else changes, so that a
        failure leaves the running admin server as it was), replacing the running server when
        the address changed. Raises OSError."""
        admin = bootstrap.admin
        key = (admin.address.address, admin.address.port) if admin is not None else None
        access_logs = (AccessLoggers(admin.access_log, self.admin_log_sink, tcp=False, where="admin.")
                       if admin is not None else None)
        if key == self.admin_key:
            if self.admin is not None:
                self.admin.access_logs = access_logs  # the address stays; its logs may change
            return
        server = None
        if admin is not None:
            try:
                sock = bind_listener(admin.address)
            except OSError as exc:
                raise OSError(exc.errno, f"admin: cannot bind {key[0]}:{key[1]}: {exc.strerror or exc}") from None
            self._write_admin_address(sock)
            router = AdminRouter()
            router.register(build_endpoints(self.admin_view, router.help))
            server = AdminServer(sock, router, access_logs)
        if self.admin is not None:
            self.admin.stop()
        self.admin, self.admin_key = server, key
        if server is not None:
            server.start()
            log.info("admin listening on %s:%d", key[0], server.address[1])

    def _write_admin_address(self, sock):
        """--admin-address-path: where the admin interface listens, as Envoy writes it."""
        path = self.args.admin_address_path
        if not path:
            return
        host, port = sock.getsockname()[:2]
        try:
            with open(path, "w") as out:
                out.write(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"--admin-address-path {path}: cannot write: {exc.strerror}") from None

    def listener_socket(self, name):
        serving = self.serving
        return serving.sockets.get(name) if serving is not None else None

    def command_line_options(self):
        return self.args.command_line_options(self.concurrency, self.base_id)

    def server_state(self):
        if self.bootstrap is None:
            return PRE_INITIALIZING
        if self.health_check_failed or self.stopping or self.handed_over:
            return DRAINING_STATE
        return LIVE

    def processes(self):
        """(role, generation, worker index, pid) of every live process."""
        out = [("arbiter", None, None, self.pid)]
        if self.flusher is not None and self.flusher.poll() is None:
            out.append(("flusher", None, None, self.flusher.pid))
        for generation in self.generations:
            for child in generation.children:
                if child.alive():
                    out.append(("worker", generation.number, child.index, child.pid))
        return out

    # --- stats

    def _on_stats(self, child, message):
        request_id = message.get("id")
        if child.process is None:
            # its last words, read after its exit was seen: counts only, no levels of the dead
            message = {"c": message.get("c", {}), "h": message.get("h", {})}
        self.stats.merge(child.stats_source, message)
        wait = self._flush_waits.get(request_id) if request_id is not None else None
        if wait is not None:
            waiting, done = wait
            waiting.discard(child)
            if not waiting:
                done.set()

    def collect_stats(self):
        """Ask every live worker for its counts now and wait (at most a second) for them all,
        then refresh the arbiter's own gauges: an admin read sees exact totals."""
        children = {child for generation in self.generations for child in generation.children
                    if child.alive() and child.ready.is_set()}
        if children:
            self._flush_ids += 1
            request_id = self._flush_ids
            done = Event()
            self._flush_waits[request_id] = (children, done)
            for child in list(children):
                if not child.send({"t": "stats_flush", "id": request_id}):
                    children.discard(child)
            if children:
                done.wait(STATS_FLUSH_TIMEOUT_S)
            del self._flush_waits[request_id]
        self._refresh_server_gauges()

    def _refresh_server_gauges(self):
        if self.bootstrap is not None:
            self.stats.set_gauges("breakers", self.overload.breaker_gauges(self.bootstrap), local=True)
        gauges = self.stats.gauges()
        state = self.server_state()
        levels = {
            "server.live": 1 if state == LIVE else 0,
            "server.state": state,
            "server.uptime": int(time.time() - self.original_start_time),
            "server.concurrency": self.concurrency,
            "server.hot_restart_epoch": self.epoch,
            "server.total_connections": sum(level for name, level in gauges.items()
                                            if name.startswith("listener.")
                                            and name.endswith(".downstream_cx_active")),
            "server.parent_connections": self.parent_connections,
            "server.version": _version_number(__version__),
            "server.draining_generations": sum(1 for g in self.generations if g.state == DRAINING),
        }
        memory = self.admin_view.memory()
        levels["server.memory_allocated"] = int(memory["allocated"])
        levels["server.memory_physical_size"] = int(memory["total_physical_bytes"])
        for generation in memory["generations"]:
            prefix = f"server.generation.{generation['generation']}."
            levels[prefix + "workers"] = generation["workers"]
            levels[prefix + "rss_bytes"] = generation["rss_bytes"]
            levels[prefix + "open_fds"] = generation["open_fds"]
        arbiter = next(p for p in memory["processes"] if p["role"] == "arbiter")
        levels["server.arbiter.rss_bytes"] = arbiter["rss_bytes"]
        levels["server.arbiter.open_fds"] = arbiter["open_fds"]
        self.stats.set_gauges("arbiter", levels)

    def _rotate_histograms(self):
        """Every stats_flush_interval: the interval quantiles of /stats move on."""
        while not self.stopping:
            gevent.sleep(self.bootstrap.stats_flush_interval)
            for totals in self.stats.histograms.values():
                totals.rotate()

    # --- what an operator asks for

    def _bring_up_to_date(self, child):
        """A worker that just became ready learns what the operator set before it existed, and
        the overload actions' states."""
        if self.health_check_failed:
            child.send({"t": "healthcheck", "failed": True})
        for level, component in self.log_overrides:
            child.send({"t": "log_level", "level": level, "logger": component})
        self.overload.bring_up_to_date(child)

    def set_health_check_failed(self, failed):
        self.health_check_failed = failed
        log.warning("health checks now %s", "fail" if failed else "pass")
        for generation in self.generations:
            generation.send_all({"t": "healthcheck", "failed": failed})

    def broadcast_log_level(self, level, component):
        if component is None:
            self.log_overrides = []
        self.log_overrides.append((level, component))
        for generation in self.generations:
            generation.send_all({"t": "log_level", "level": level, "logger": component})

    def drain_listeners(self, graceful, inbound_only):
        """Admin /drain_listeners, as Envoy does it: the listeners (only INBOUND ones with
        ``inbound_only``) stop accepting for good, and their sockets close here too, so that new
        connections are refused rather than queued. Connections already open run on. With
        ``graceful`` the listeners first keep accepting for --drain-time-s while their HTTP
        connections close one by one."""
        serving = self.serving
        if serving is None:
            return
        names = [listener.name for listener in serving.bootstrap.listeners
                 if not inbound_only or listener.traffic_direction == "INBOUND"]
        if not names:
            return
        if graceful:
            self._send_serving({"t": "close_connections", "listeners": names,
                                "drain_time": self.drain_time})
            gevent.spawn_later(self.drain_time, self._stop_listeners, serving, names)
        else:
            self._stop_listeners(serving, names)

    def _stop_listeners(self, serving, names):
        self._send_serving({"t": "stop_listeners", "listeners": names})
        for name in names:
            sock = serving.sockets.get(name)
            for key, held in list(self.sockets.items()):
                if held is sock:
                    log.info("listener %s drained: closing %s:%d", name, *key)
                    del self.sockets[key]
                    sock.close()

    def _send_serving(self, message):
        for generation in self.generations:
            if generation.state in (READY, STARTING):
                generation.send_all(message)
