"""The arbiter: owns the listening sockets, runs generations of workers, reloads on SIGHUP.

This module is the composition root: it builds the components, wires them together, owns
startup and shutdown, and runs the signal loop. One gevent hub. Signal handlers only queue the
signal's name; the main loop dispatches ``handle_<name>`` and, on every tick, lets the
supervisor supervise.

    supervisor.py       children: start, reap, respawn with back-off, kill the silent, retire
    reload.py           the reload state machine (validate → bind → start → ready → drain)
    hotrestart/epochs   hot restart, taking over from epoch E-1 and handing over to E+1
    stats_collector.py  stats aggregation: workers' ``stats`` merged, flushed on demand
    discovery.py        DNS, active health checks and outlier detection, pushed to workers
    listen_sockets.py   the listening sockets, by address, kept across generations
    admin_port.py       the admin server, over admin_view.py; controls.py: what it changes
    overload.py         the overload manager and the connection counts workers share
    runtime_layers.py   the layered runtime: its values pushed to workers, /runtime's source
    messages.py         every kind of message on the channels

Stats live here, not in the workers: counters stay continuous across reloads and crashes. The
admin server (admin/) runs on this hub, on its own socket that no child inherits.
"""
from __future__ import annotations

import logging
import os
import signal
import time

import gevent
from gevent.queue import Empty, Queue

from ..accesslog.sink import AccessLogSink, sink_socketpair
from ..errors import ConfigError
from ..stats.store import StatsStore
from . import ticket_key
from .admin_port import AdminPort
from .admin_view import AdminView
from .controls import Controls
from .discovery import Discovery
from .generation import READY, STOPPED
from .hotrestart.child import HotRestartError
from .hotrestart.epochs import HotRestart
from .listen_sockets import ListenSockets
from .messages import HANDOFF, HEARTBEAT, OUTCOMES, READY as WORKER_READY, STATS, STOPPED_ACCEPTING
from .overload import OverloadSupervisor
from .pid_file import remove_pid_file, write_pid_file
from .procutil import set_title
from .reload import (READY_TIMEOUT_S, GenerationSteps, Reloader, ServingConfig, hot_restart_report,
                     status_summary)
from .reload_probe import holds_accepting
from .runtime_layers import RuntimeLayers
from .server_stats import DRAINING, LIVE, PRE_INITIALIZING, memory_report, server_levels
from .spawn import Zygote, spawn_flusher, spawn_worker
from .startup import describe, finish_init_only, report_failure
from .stats_collector import StatsCollector
from .supervisor import AuxiliarySpec, DrainSettings, Supervisor
from .systemd import Notifier, Watchdog
from .validate import ConfigReader, check_text
from .xds_link import XdsLink, needs_xds

log = logging.getLogger("hotproxy.arbiter")

TICK_S = 0.5
SIGNALS = ("HUP", "TERM", "INT", "QUIT", "USR1", "USR2", "TTIN", "TTOU", "CHLD")


class Arbiter:
    def __init__(self, args):
        self.args = args
        ticket_key.ensure()  # before any worker is spawned: they inherit it
        self.started_at = time.time()
        self.log_options = args.log_options()
        self.notifier = Notifier()
        self.watchdog = Watchdog(self.notifier)     # pinged by each turn of the main loop
        self.signals = Queue()
        self.drain = DrainSettings.from_args(args)
        self.config_reader = ConfigReader(args.config_source())  # re-read on every reload
        self.config = ServingConfig()
        stats = StatsStore()
        # Workers send access-log batches on one end; the flusher reads the other. The arbiter
        # keeps both, so lines sent while the flusher restarts wait in the socket.
        self.sink_recv, self.sink_send = sink_socketpair()

        self.supervisor = supervisor = Supervisor(stats, self._launch, args.concurrency or os.cpu_count() or 1,
                                                  args.max_draining_generations)
        supervisor.register(AuxiliarySpec("flusher", self._spawn_flusher, "flusher.respawned"))
        # forks the workers of reloads and respawns, already imported; the first of them starts it
        self.zygote = Zygote(lambda: supervisor.start_auxiliary("zygote"), lambda: supervisor.auxiliary("zygote"))
        supervisor.register(AuxiliarySpec("zygote", self.zygote.spawn, "zygote.respawned",
                                          on_message=self.zygote.on_message, on_demand=True))
        self.collector = StatsCollector(stats, supervisor.ready_workers, self._refresh_gauges,
                                        lambda: self.config.bootstrap)
        self.discovery = Discovery(stats, lambda: supervisor.generations)
        self.overload = OverloadSupervisor(stats, supervisor)  # resource monitors, shared counts
        self.sockets = ListenSockets(lambda address: self.hot_restart.listening_socket(address))
        self.controls = Controls(supervisor, self.sockets, self.drain.drain_time)
        self.runtime_layers = RuntimeLayers(lambda message: supervisor.broadcast(message, draining=True),
                                            args.service_cluster or None)
        self.admin = AdminPort(AdminView(self, self.collector, self.config, supervisor, self.controls,
                                         runtime_layers=self.runtime_layers),
                               AccessLogSink(self.sink_send),  # the admin interface's own lines
                               args.admin_address_path)
        self.steps = GenerationSteps(supervisor, self.sockets, self.admin, self.discovery, self.drain,
                                     self.runtime_layers)
        self.reloads = Reloader(self._read_config, self.steps, stats, self.config, self.notifier,
                                self._reloaded)
        self.xds = XdsLink(stats, lambda: self.request_reload(self._xds_config, "xds"),
                           lambda message: supervisor.broadcast(message, draining=True), self.log_options,
                           lambda name, values: self.runtime_layers.set_rtds(name, values),
                           self.discovery.eds.update)
        self.hot_restart = HotRestart(
            args, self.drain, collector=self.collector, health=self.discovery.health, admin=self.admin,
            supervisor=supervisor, sockets=self.sockets, config=self.config, notifier=self.notifier,
            pass_on=self._pass_on, terminate=lambda: self.signals.put("TERM"),
            on_handed_over=lambda: self._set_title("handed over"))

        supervisor.on_worker_ready(self.controls.bring_up_to_date)
        supervisor.on_worker_ready(self.overload.bring_up_to_date)
        supervisor.on_worker_gone(lambda child: stats.forget(child.stats_source))
        supervisor.on_worker_gone(self.overload.release)
        supervisor.on_retired(lambda generation: self.discovery.retain())
        self.config_reader.count_into(stats)

    # startup and the main loop

    def run(self):
        hot_restart = self.hot_restart
        try:
            text, bootstrap = self.config_reader.read()
            hot_restart.open()
            if hot_restart.predecessor is None:
                self.admin.serve(bootstrap)  # else the predecessor's, once it lets it go
            if needs_xds(bootstrap) and self.args.mode != "init_only":
                text, bootstrap = self._first_xds_config(text)
            self.runtime_layers.configure(bootstrap)  # the first workers start with its values
            self.xds.push_runtime()
            sockets = self.sockets.bind(bootstrap)
        except (ConfigError, OSError, HotRestartError) as error:
            report_failure(log, "cannot start: " + describe(error, self.config_reader.source.name))
            hot_restart.close()
            hot_restart.abandon()
            return 1
        if self.args.mode == "init_only":
            return finish_init_only(self.admin, self.sockets, hot_restart)
        for name in SIGNALS:
            gevent.signal_handler(getattr(signal, "SIG" + name), self.signals.put, name)
        self.supervisor.start_auxiliaries()
        self.runtime_layers.start()
        if hot_restart.predecessor is not None:
            hot_restart.inherit_health()
        failure = None
        try:
            generation = self.steps.start(bootstrap, text, sockets)
        except OSError as error:        # none of its workers runs
            generation, failure = None, f"workers could not be started: {error}"
        if generation is not None and not self.steps.wait_ready(generation):
            failure = generation.start_failure or f"workers did not become ready in {READY_TIMEOUT_S:.0f} s"
        elif generation is not None and hot_restart.predecessor is not None:
            failure = self._take_over(generation, bootstrap, text)
        elif generation is not None:
            generation.state = READY
            self.config.update(bootstrap, text)
        if failure is not None:
            log.error("cannot start: %s", failure)
            hot_restart.abandon()  # before any drain: the previous epoch serves on untouched
            if generation is not None:
                self.steps.abandon(generation)
            self.discovery.stop()
            self.supervisor.stop_auxiliaries()
            return 1
        hot_restart.start()
        write_pid_file(self.args.pid_file)
        self.notifier.ready(self._status())
        gevent.spawn(self.collector.flush_loop, lambda: self.config.bootstrap.stats_flush_interval,
                     lambda: not self.supervisor.stopping)
        self._set_title(f"gen {generation.number}")
        log.info("serving: %d workers, generation %d, epoch %d", self.supervisor.concurrency, generation.number,
                 hot_restart.epoch)
        try:
            return self._loop()
        finally:
            self.discovery.stop()
            self.runtime_layers.stop()
            hot_restart.close()
            self.admin.stop()
            remove_pid_file(self.args.pid_file)

    def _take_over(self, generation, bootstrap, text):
        """A hot restart: our first generation is probed (the previous epoch serves until it
        passes), compared with what the previous epoch serves, then takes over. Why not, or None."""
        problem = self.steps.probe(generation)
        if problem is not None:
            return f"generation {generation.number} failed its reload probe: {problem}"
        generation.state = READY
        self.steps.accept(generation)
        self.config.update(bootstrap, text)
        self.config.last_reload = hot_restart_report(self.hot_restart.predecessor, self.config)
        if not self.hot_restart.take_over(bootstrap):
            return "the hand-over failed"
        return None

    def _loop(self):
        supervisor, hot_restart = self.supervisor, self.hot_restart
        while True:
            try:
                name = self.signals.get(timeout=TICK_S)
            except Empty:
                name = None
            if name is not None:
                result = getattr(self, "handle_" + name.lower())()
                if result is not None:
                    return result
            hot_restart.reap_successor()
            supervisor.tick()
            self.watchdog.tick()
            if (supervisor.stopping or hot_restart.handed_over and hot_restart.relayed_all()) \
                    and not supervisor.live_workers():
                log.info("all workers have exited")
                supervisor.join_readers(timeout=1.0)  # their last stats messages
                if hot_restart.handed_over:
                    hot_restart.send_final_stats()
                supervisor.stop_auxiliaries()
                return 0

    # the server as a whole (what admin_view.py asks)

    def server_state(self):
        if self.config.bootstrap is None:
            return PRE_INITIALIZING
        if self.controls.health_check_failed or self.supervisor.stopping or self.hot_restart.handed_over:
            return DRAINING
        return LIVE

    def uptimes(self):
        """Seconds since this epoch started, and since the first epoch did."""
        now = time.time()
        return int(now - self.started_at), int(now - self.hot_restart.original_start_time)

    def command_line_options(self):
        return self.args.command_line_options(self.supervisor.concurrency, self.hot_restart.base_id)

    def quit(self):
        self.signals.put("TERM")

    def _status(self):
        serving = self.supervisor.serving
        return (f"serving generation {serving.number if serving else '-'} with {self.supervisor.concurrency} "
                f"workers; {len(self.supervisor.draining())} draining; "
                f"last reload: {status_summary(self.config.last_reload)}")

    def _refresh_gauges(self):
        """The arbiter's own gauges, after every stats collection."""
        stats, supervisor, bootstrap = self.collector.store, self.supervisor, self.config.bootstrap
        if bootstrap is not None:
            stats.set_gauges("breakers", self.overload.breaker_gauges(bootstrap), local=True)
        stats.set_gauges("arbiter", server_levels(
            state=self.server_state(), uptime=self.uptimes()[1], concurrency=supervisor.concurrency,
            epoch=self.hot_restart.epoch, parent_connections=self.hot_restart.parent_connections,
            draining=len(supervisor.draining()), gauges=stats.gauges(),
            memory=memory_report(supervisor.processes())), set_=True)

    def _set_title(self, state):
        set_title(f"hotproxy: arbiter [epoch {self.hot_restart.epoch}, {state}]")

    # signals

    def request_reload(self, source=None, trigger="SIGHUP"):
        """A new generation from ``source`` (a callable returning (text, bootstrap); the config
        file when None), unless this arbiter stops or has handed over to the next epoch."""
        if self.supervisor.stopping or self.hot_restart.handed_over:
            return
        self.reloads.request(source, trigger)

    def handle_hup(self):
        self.request_reload()

    def handle_term(self):
        """Fast shutdown: workers stop now."""
        log.info("fast shutdown")
        self.notifier.stopping("stopping")
        self.supervisor.stopping = True
        self.supervisor.stop_workers()
        self.supervisor.stop_auxiliaries()
        return 0

    handle_int = handle_term

    def handle_quit(self):
        """Graceful shutdown: every generation drains (idle connections close), then exit."""
        log.info("graceful shutdown")
        self.notifier.stopping("draining before stopping")
        self.supervisor.stopping = True
        deadline = time.monotonic() + self.drain.parent_shutdown_time
        for generation in self.supervisor.generations:
            if generation.state != STOPPED:
                # nowhere to move to: idle connections close now, busy ones after their response
                self.supervisor.drain(generation, [], 0.0, True,
                                      min(generation.drain_deadline or deadline, deadline))

    def handle_usr1(self):
        """logrotate: the flusher reopens every access-log file."""
        self.supervisor.signal("flusher", signal.SIGUSR1)

    def handle_usr2(self):
        """Start our own successor with the same command line (a binary upgrade in one signal)."""
        if not (self.supervisor.stopping or self.hot_restart.handed_over):
            self.hot_restart.start_successor()

    def handle_ttin(self):
        self._resize(self.supervisor.concurrency + 1)

    def handle_ttou(self):
        if self.supervisor.concurrency > 1:
            self._resize(self.supervisor.concurrency - 1)

    def handle_chld(self):
        return None  # reaping happens in Supervisor.tick on every tick

    def _resize(self, concurrency):
        self.supervisor.concurrency = concurrency
        log.info("concurrency now %d: reloading", concurrency)
        self.request_reload(trigger="concurrency")

    def _reloaded(self, generation):
        """After a reload: systemd hears how it went; a new generation names the process."""
        self.notifier.ready(self._status())
        if generation is not None:
            self.runtime_layers.commit(generation.bootstrap)  # a changed layered_runtime runs now
            self._set_title(f"gen {generation.number}")

    # configs: the file's, with what xDS serves

    def _read_config(self):
        """The source of SIGHUP reloads: the config file, composed with xDS's listeners and
        clusters when it has dynamic resources."""
        text, bootstrap = self.config_reader.read()
        if not needs_xds(bootstrap):
            return text, bootstrap
        self.xds.follow(self.supervisor, text)
        return self._xds_config()

    def _xds_config(self):
        """The source of xDS's reloads: the bootstrap last read, with the latest snapshot."""
        text = self.xds.compose()
        return text, check_text(text, self.xds.secrets)

    def _first_xds_config(self, text):
        """Start the xDS process and wait for its first complete snapshot (each resource's
        initial_fetch_timeout bounds it; with none, it waits as Envoy does), supervising it."""
        self.xds.follow(self.supervisor, text)
        log.info("waiting for the initial xDS fetch")
        while not self.xds.initial.wait(TICK_S):
            self.supervisor.tick()
        return self._xds_config()

    # children

    def _launch(self, child):
        argv, fds, columns = self.overload.prepare_worker(child)
        spawn_worker(child, child.generation.sockets, self._on_message, self.log_options, self.sink_send.fileno(),
                     argv, fds, self.zygote if self.supervisor.serving is not None else None)
        # first on its channel: the worker knows its hosts' health, its routes, its EDS
        # memberships, the runtime's values and its shared counters before it serves
        hold = holds_accepting(child.generation, self.supervisor.serving is not None
                               or self.hot_restart.predecessor is not None)
        child.send({**self.discovery.first_message(child.generation), **self.xds.worker_state(),
                    **self.runtime_layers.worker_state(), "connection_counters": columns,
                    "hold_accepting": hold})

    def _spawn_flusher(self):
        return spawn_flusher(self.sink_recv.fileno(), self.log_options, self.args.file_flush_interval_msec,
                             self.args.file_flush_min_size_kb), None

    def _on_message(self, child, message, fds):
        kind = message.get("t")
        if kind == HEARTBEAT:
            self.supervisor.heartbeat(child)
        elif kind == STATS:
            self.collector.on_stats(child, message)
        elif kind == OUTCOMES:
            self.discovery.record(child.generation, message)
        elif kind == WORKER_READY:
            self.supervisor.worker_ready(child)
        elif kind == STOPPED_ACCEPTING:
            child.stopped_accepting.set()
        elif kind == HANDOFF and fds:
            self._pass_on(message.get("listener"), fds[0])
            fds = fds[1:]
        for fd in fds:
            os.close(fd)

    def _pass_on(self, listener_name, fd):
        """An idle connection left by a draining worker (or by the previous epoch) goes to the
        serving generation, or to the next epoch once it serves."""
        try:
            if self.hot_restart.handed_over:
                self.hot_restart.pass_connection(listener_name, fd)
            else:
                self.supervisor.adopt(listener_name, fd)
        finally:
            os.close(fd)
