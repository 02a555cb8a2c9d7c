"""The arbiter: owns the listening sockets, runs generations of workers, reloads on SIGHUP.

One gevent hub. Signal handlers only queue the signal's name; the main loop dispatches
``handle_<name>`` and, on every tick, supervises the children (reap, respawn with back-off, kill
the ones whose heartbeats stopped, stop draining generations at their deadline).

Reload (SIGHUP), two-phase so that everything that can fail happens before anything changes:
read and validate the config → bind new listener addresses (existing ones are kept, their listen
queues untouched) → start generation G+1 → wait until each of its workers reports ready → only
then tell the older generations to drain. Draining workers stop accepting and hand their idle
keep-alive connections back here, which passes each to a worker of the newest generation. A
failure at any step leaves the serving generation exactly as it was. SIGHUPs coalesce: at most one
reload runs and at most one more is queued behind it.

Stats: workers ship counter deltas and gauge levels (``stats`` messages) into ``self.stats``,
which outlives every generation; an admin read first asks each worker to ship now. The admin
server (admin/) runs on this hub, on its own socket that no child inherits. What stats and admin
ask of the arbiter lives in process/operations.py.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import time

import gevent
from gevent.queue import Empty, Queue

from ..errors import ConfigError
from ..accesslog.sink import AccessLogSink, sink_socketpair
from ..stats.store import StatsStore
from .admin_view import AdminView
from .generation import DRAINING, READY, STARTING, STOPPED, Generation, spawn_flusher, spawn_worker
from .dns import DnsSupervisor
from .health import HealthSupervisor
from .outlier import OutlierSupervisor
from .hotrestart.child import HotRestartError
from .hotrestart.epochs import EpochOperations
from .operations import ArbiterOperations
from .overload import OverloadSupervisor
from .procutil import set_title
from .startup import describe, finish_init_only, report_failure
from .systemd import Notifier
from .validate import ConfigReader
from . import ticket_key

log = logging.getLogger("hotproxy.arbiter")

READY_TIMEOUT_S = 30.0
HEARTBEAT_TIMEOUT_S = 10.0
STOP_GRACE_S = 5.0
TICK_S = 0.5
QUICK_DEATH_S = 5.0
SIGNALS = ("HUP", "TERM", "INT", "QUIT", "USR1", "USR2", "TTIN", "TTOU", "CHLD")
ARBITER_COUNTERS = ("server.reload_total", "server.reload_failed", "worker.respawned",
                    "flusher.respawned", "server.generations_stopped_early")


class Arbiter(ArbiterOperations, EpochOperations):
    def __init__(self, args):
        self.args = args
        self.pid = os.getpid()
        ticket_key.ensure()  # before any worker is spawned: they inherit it
        self.epoch = args.restart_epoch
        self.base_id = args.base_id
        self.predecessor = None      # epoch E-1 while we take over from it (hotrestart/child.py)
        self.restart_server = None   # where epoch E+1 finds us (hotrestart/parent.py)
        self.successor_process = None  # the epoch SIGUSR2 started
        self.handed_over = False     # epoch E+1 serves; we drain
        self.admin_lent = False      # our admin port went to epoch E+1
        self.parent_connections = 0
        self.config_reader = ConfigReader(args.config_source())  # re-read on every reload
        self.concurrency = args.concurrency or os.cpu_count() or 1
        self.parent_shutdown_time = args.parent_shutdown_time_s
        self.drain_time = args.drain_time_s
        self.drain_immediate = args.drain_strategy == "immediate"
        self.max_draining = args.max_draining_generations
        self.log_options = args.log_options()
        self.pid_file = args.pid_file
        self.notifier = Notifier()
        self.sockets = {}            # (address, port) → listening stdlib socket
        self.generations = []        # oldest first; the last READY one serves
        self.signals = Queue()
        self.reloading = False
        self.reload_pending = False
        self.stopping = False
        self.stats = StatsStore()
        self.stats.declare(*ARBITER_COUNTERS)
        self.config_reader.count_into(self.stats)
        self.started_at = self.original_start_time = time.time()
        self.bootstrap = None        # of the serving generation, and its text
        self.config_text = ""
        self.config_loaded_at = 0.0
        self.health_check_failed = False
        self.log_overrides = []      # (level, component) set through /logging, replayed to new workers
        self.admin_view = AdminView(self)
        self.dns = DnsSupervisor(self.stats, lambda: self.generations)  # STRICT_DNS, LOGICAL_DNS
        self.health = HealthSupervisor(self.stats, lambda: self.generations)  # active health checks
        self.outliers = OutlierSupervisor(self.stats, lambda: self.generations)  # outlier detection
        self.overload = OverloadSupervisor(self)  # resource monitors, shared connection counts
        self.admin = None            # AdminServer, when the config has an admin address
        self.admin_key = None        # its (address, port) as configured
        self._flush_waits = {}       # stats_flush id → (children not yet answered, Event)
        self._flush_ids = 0
        self.last_reload = {"result": "none"}
        # Workers send access-log batches on one end; the flusher reads the other. The arbiter
        # keeps both, so lines sent while the flusher restarts wait in the socket.
        self.sink_recv, self.sink_send = sink_socketpair()
        self.admin_log_sink = AccessLogSink(self.sink_send)  # the admin interface's own lines
        self.flusher = None
        self.flusher_started = 0.0

    # startup and the main loop

    def run(self):
        try:
            text, bootstrap = self.config_reader.read()
            self.predecessor = self._find_predecessor()
            self.restart_server = self._open_restart_server()
            sockets = self._bind(bootstrap)
            if self.predecessor is None:
                self._serve_admin(bootstrap)  # else the predecessor's, once it lets it go
        except (ConfigError, OSError, HotRestartError) as error:
            report_failure(log, "cannot start: " + describe(error, self.config_reader.source.name))
            if self.restart_server is not None:
                self.restart_server.close()
            if self.predecessor is not None:
                self.predecessor.close()
            return 1
        if self.args.mode == "init_only":
            return finish_init_only(self)
        for name in SIGNALS:
            gevent.signal_handler(getattr(signal, "SIG" + name), self.signals.put, name)
        self._start_flusher()
        if self.predecessor is not None:
            self._inherit_health()
        generation = self._start_generation(bootstrap, text, sockets, self._prepare_discovery(bootstrap))
        failure = None
        if not generation.wait_ready(READY_TIMEOUT_S):
            failure = f"workers did not become ready in {READY_TIMEOUT_S:.0f} s"
        else:
            generation.state = READY
            self._now_serving(bootstrap, text)
            if self.predecessor is not None and not self._take_over(bootstrap):
                failure = "the hand-over failed"
        if failure is not None:
            log.error("cannot start: %s", failure)
            if self.predecessor is not None:
                self.predecessor.close()  # before any drain: the previous epoch serves on untouched
            self._stop_generation(generation, kill=True)
            self.health.stop()
            self.outliers.stop()
            self.dns.stop()
            self._stop_flusher()
            return 1
        self.restart_server.start()
        self._write_pid_file()
        self.notifier.ready(self._status())
        gevent.spawn(self._rotate_histograms)
        if self.notifier.watchdog_interval:
            gevent.spawn(self._watchdog)
        self._set_title(f"gen {generation.number}")
        log.info("serving: %d workers, generation %d, epoch %d", self.concurrency, generation.number, self.epoch)
        try:
            return self._loop()
        finally:
            self.health.stop()
            self.outliers.stop()
            self.dns.stop()
            self.restart_server.close()
            if self.admin is not None:
                self.admin.stop()
            self._remove_pid_file()

    def _write_pid_file(self):
        """Once we serve (after a hot restart, the file names the new epoch), atomically."""
        if self.pid_file:
            tmp = f"{self.pid_file}.{os.getpid()}"
            with open(tmp, "w") as pid_file:
                pid_file.write(f"{os.getpid()}\n")
            os.replace(tmp, self.pid_file)

    def _remove_pid_file(self):
        """Only while it still names us: a successor epoch may have written its own."""
        if not self.pid_file:
            return
        try:
            with open(self.pid_file) as pid_file:
                if pid_file.read().strip() == str(os.getpid()):
                    os.unlink(self.pid_file)
        except OSError:
            pass

    def _loop(self):
        while True:
            try:
                name = self.signals.get(timeout=TICK_S)
            except Empty:
                name = None
            if name is not None:
                result = getattr(self, "handle_" + name.lower())()
                if result is not None:
                    return result
            self._supervise()
            if (self.stopping or self.handed_over and self._relayed_all()) \
                    and not any(g.live_children() for g in self.generations):
                log.info("all workers have exited")
                gevent.joinall([c.reader for g in self.generations for c in g.children if c.reader],
                               timeout=1.0)  # their last stats messages
                if self.handed_over:
                    self.restart_server.send_final_stats()
                self._stop_flusher()
                return 0

    def _watchdog(self):
        """WATCHDOG=1 from the hub itself: a wedged arbiter stops pinging and systemd restarts it."""
        while not self.stopping:
            self.notifier.watchdog()
            gevent.sleep(self.notifier.watchdog_interval)

    @property
    def serving(self):
        """The newest READY generation."""
        for generation in reversed(self.generations):
            if generation.state == READY:
                return generation
        return None

    def _status(self):
        serving = self.serving
        draining = sum(1 for g in self.generations if g.state == DRAINING)
        return (f"serving generation {serving.number if serving else '-'} with {self.concurrency} workers; "
                f"{draining} draining; last reload: {self.last_reload['result']}")

    # signals

    def _set_title(self, state):
        set_title(f"hotproxy: arbiter [epoch {self.epoch}, {state}]")

    def handle_hup(self):
        if self.stopping or self.handed_over:
            return None
        if self.reloading:
            self.reload_pending = True  # coalesced: one reload queued behind the running one
        else:
            gevent.spawn(self._reload_loop)
        return None

    def handle_term(self):
        """Fast shutdown: workers stop now."""
        log.info("fast shutdown")
        self.notifier.stopping("stopping")
        self.stopping = True
        for generation in self.generations:
            self._stop_generation(generation)
        deadline = time.monotonic() + STOP_GRACE_S
        while any(g.live_children() for g in self.generations) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        for generation in self.generations:
            self._stop_generation(generation, kill=True)
        self._stop_flusher()
        return 0

    handle_int = handle_term

    def handle_quit(self):
        """Graceful shutdown: every generation drains (idle connections close), then exit."""
        log.info("graceful shutdown")
        self.notifier.stopping("draining before stopping")
        self.stopping = True
        deadline = time.monotonic() + self.parent_shutdown_time
        for generation in self.generations:
            if generation.state != STOPPED:
                generation.state = DRAINING
                generation.drain_deadline = min(generation.drain_deadline or deadline, deadline)
                # nowhere to move to: idle connections close now, busy ones after their response
                generation.send_all({"t": "drain", "move": [], "drain_time": 0.0, "immediate": True})
        return None

    def handle_usr1(self):
        """logrotate: the flusher reopens every access-log file."""
        if self.flusher is not None and self.flusher.poll() is None:
            self.flusher.send_signal(signal.SIGUSR1)

    def handle_ttin(self):
        self._resize(self.concurrency + 1)

    def handle_ttou(self):
        if self.concurrency > 1:
            self._resize(self.concurrency - 1)

    def handle_chld(self):
        return None  # reaping happens in _supervise on every tick

    # reload

    def _reload_loop(self):
        self.reloading = True
        try:
            while True:
                self.reload_pending = False
                self._reload_once()
                if not self.reload_pending or self.stopping:
                    break
        finally:
            self.reloading = False

    def _reload_once(self):
        self.notifier.reloading("reloading")
        started = time.monotonic()
        try:
            text, bootstrap = self.config_reader.read()
            sockets = self._bind(bootstrap)
            self._serve_admin(bootstrap)
        except (ConfigError, OSError) as error:
            return self._reload_failed(f"invalid configuration: {error}")
        generation = self._start_generation(bootstrap, text, sockets, self._prepare_discovery(bootstrap))
        if not generation.wait_ready(READY_TIMEOUT_S) or self.stopping:
            self._stop_generation(generation, kill=True)
            return self._reload_failed(f"generation {generation.number} did not become ready")
        generation.state = READY
        self._now_serving(bootstrap, text)
        for older in self.generations:
            if older is not generation and older.state == READY:
                self._drain_generation(older)
        self._close_unused_sockets()
        self._enforce_max_draining()
        self.health.retain()
        self.outliers.retain()
        self.dns.retain()
        self.stats.add("server.reload_total")
        self.last_reload = {"result": "ok", "generation": generation.number,
                            "seconds": round(time.monotonic() - started, 3)}
        log.info("reload %d: generation %d serving (%.3f s)", self.stats.counters["server.reload_total"],
                 generation.number, time.monotonic() - started)
        self.notifier.ready(self._status())
        self._set_title(f"gen {generation.number}")
        return None

    def _reload_failed(self, reason):
        self.stats.add("server.reload_failed")
        self.last_reload = {"result": "failed", "reason": reason}
        log.error("reload failed, the running configuration keeps serving: %s", reason)
        self.notifier.ready(self._status())

    # generations

    def _bind(self, bootstrap):
        """The listening socket of every listener in ``bootstrap`` by name: kept from earlier
        generations when the address is unchanged, bound now otherwise."""
        by_name = {}
        fresh = []
        try:
            for listener in bootstrap.listeners:
                key = (listener.address.address, listener.address.port)
                sock = self.sockets.get(key) if listener.address.port else None
                if sock is None:
                    sock = self._listening_socket(listener.address)
                    fresh.append((key, sock))
                by_name[listener.name] = sock
        except OSError as exc:
            for _key, sock in fresh:
                sock.close()
            address = f"{listener.address.address}:{listener.address.port}"
            raise OSError(exc.errno, f"listener '{listener.name}': cannot bind {address}: "
                                     f"{exc.strerror or exc}") from None
        for key, sock in fresh:
            self.sockets[key if key[1] else (key[0], sock.getsockname()[1])] = sock
        return by_name

    def _prepare_discovery(self, bootstrap):
        """The DNS resolvers, then the health checkers that use them (process/dns.py,
        process/health.py)."""
        resolvers = self.dns.prepare(bootstrap)
        return resolvers, self.health.prepare(bootstrap, resolvers)

    def _start_generation(self, bootstrap, text, sockets, discovery):
        """``discovery``: the generation's DNS resolvers and health checkers by cluster name."""
        resolvers, health = discovery
        number = self.generations[-1].number + 1 if self.generations else 1
        generation = Generation(number, bootstrap, text, self.concurrency, sockets)
        generation.dns = resolvers
        generation.health = health
        generation.outliers = self.outliers.prepare(bootstrap, resolvers, health)
        self.generations.append(generation)
        for child in generation.children:
            self._spawn_worker(child, sockets)
        return generation

    def _spawn_worker(self, child, sockets):
        spawn_worker(child, sockets, self._on_message, self.log_options, self.sink_send.fileno(),
                     *self.overload.prepare_worker(child))
        # first on its channel: the worker knows its hosts' health before it serves
        child.send({**self.health.snapshot(child.generation.health),
                    "ejected": self.outliers.snapshot(child.generation.outliers),
                    "dns": self.dns.snapshot(child.generation.dns)})

    def _drain_generation(self, generation):
        generation.state = DRAINING
        generation.drain_deadline = time.monotonic() + self.parent_shutdown_time
        serving = self.serving
        generation.send_all({"t": "drain", "move": sorted(serving.listener_names if serving else ()),
                             "drain_time": self.drain_time, "immediate": self.drain_immediate})
        log.info("generation %d draining", generation.number)

    def _stop_generation(self, generation, kill=False):
        for child in generation.children:
            if child.alive():
                if kill:
                    child.process.kill()
                else:
                    child.send({"t": "stop"})
                    child.process.terminate()
        if kill:
            for child in generation.children:
                if child.process is not None:
                    child.process.wait()
            self._retire(generation)

    def _retire(self, generation):
        generation.state = STOPPED
        generation.close()
        for child in generation.children:
            self.stats.forget(child.stats_source)
            self.overload.release(child)
            if child.channel is not None:
                child.channel.close()
        if generation in self.generations:
            self.generations.remove(generation)
        self.health.retain()
        self.outliers.retain()
        self.dns.retain()

    def _enforce_max_draining(self):
        draining = [g for g in self.generations if g.state == DRAINING]
        for generation in draining[:max(len(draining) - self.max_draining, 0)]:
            log.warning("generation %d stopped early: more than %d generations draining",
                        generation.number, self.max_draining)
            self.stats.add("server.generations_stopped_early")
            self._stop_generation(generation)

    def _close_unused_sockets(self):
        in_use = set()
        for generation in self.generations:
            if generation.state in (READY, STARTING):
                in_use.update(id(sock) for sock in generation.sockets.values())
        for key, sock in list(self.sockets.items()):
            if id(sock) not in in_use:
                log.info("closing listener socket %s:%d (no longer configured)", *key)
                sock.close()
                del self.sockets[key]

    def _resize(self, concurrency):
        self.concurrency = concurrency
        log.info("concurrency now %d: reloading", concurrency)
        self.handle_hup()

    # children

    def _on_message(self, child, message, fds):
        kind = message.get("t")
        if kind == "heartbeat":
            child.last_heartbeat = time.monotonic()
        elif kind == "stats":
            self._on_stats(child, message)
        elif kind == "outcomes":
            self.outliers.record(child.generation, message)
            self.health.record(child.generation, message)
        elif kind == "ready":
            child.last_heartbeat = time.monotonic()
            child.ready.set()
            self._bring_up_to_date(child)
        elif kind == "handoff" and fds:
            self._pass_on(message.get("listener"), fds[0])
            fds = fds[1:]
        for fd in fds:
            os.close(fd)

    def _pass_on(self, listener_name, fd):
        """An idle connection left by a draining worker goes to the serving generation."""
        try:
            if self.handed_over:
                self.restart_server.pass_connection(listener_name, fd)
                return
            serving = self.serving
            if serving is None or self.stopping or listener_name not in serving.listener_names:
                return
            adopter = serving.adopter()
            if adopter is not None:
                adopter.send({"t": "adopt", "listener": listener_name}, [fd])
        finally:
            os.close(fd)

    def _start_flusher(self):
        if self.stopping:
            return
        self.flusher = spawn_flusher(self.sink_recv.fileno(), self.log_options,
                                     self.args.file_flush_interval_msec, self.args.file_flush_min_size_kb)
        self.flusher_started = time.monotonic()

    def _stop_flusher(self):
        """After the workers: the flusher writes what they sent, then exits."""
        if self.flusher is not None and self.flusher.poll() is None:
            self.flusher.terminate()
            try:
                self.flusher.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.flusher.kill()

    def _supervise(self):
        now = time.monotonic()
        self._reap_successor()
        if not self.stopping and self.flusher is not None and self.flusher.poll() is not None:
            log.error("the flusher exited with %s; restarting it", self.flusher.returncode)
            self.stats.add("flusher.respawned")
            if now - self.flusher_started > QUICK_DEATH_S:
                self._start_flusher()
            else:
                self.flusher = None
                gevent.spawn_later(QUICK_DEATH_S, self._start_flusher)
        for generation in list(self.generations):
            for child in generation.children:
                if child.process is None:
                    continue
                if child.process.poll() is not None:
                    self._on_exit(generation, child, now)
                elif (child.ready.is_set() and now - child.last_heartbeat > HEARTBEAT_TIMEOUT_S
                      and generation.state != STOPPED):
                    log.error("%s (pid %d) sent no heartbeat for %.0f s: killing it",
                              child.title, child.pid, now - child.last_heartbeat)
                    child.process.kill()
            if generation.state == DRAINING:
                if not generation.live_children():
                    log.info("generation %d has exited", generation.number)
                    self._retire(generation)
                elif generation.drain_deadline and now > generation.drain_deadline:
                    log.warning("generation %d reached --parent-shutdown-time-s: stopping it", generation.number)
                    generation.drain_deadline = now + STOP_GRACE_S
                    self._stop_generation(generation)

    def _on_exit(self, generation, child, now):
        code = child.process.returncode
        pid = child.pid
        child.process = None
        self.stats.forget(child.stats_source)
        self.overload.release(child)
        if generation.state != READY or self.stopping:
            return
        lived = now - child.started_at
        child.failures = child.failures + 1 if lived < QUICK_DEATH_S else 0
        delay = min(0.5 * (2 ** (child.failures - 1)), 30.0) if child.failures else 0.0
        log.error("%s (pid %d) exited with %s after %.1f s; restarting it in %.1f s",
                  child.title, pid, code, lived, delay)
        self.stats.add("worker.respawned")
        gevent.spawn_later(delay, self._respawn, generation, child)

    def _respawn(self, generation, child):
        if generation.state == READY and not self.stopping and child.process is None:
            self._spawn_worker(child, generation.sockets)
