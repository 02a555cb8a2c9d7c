"""The arbiter's side of hot restart, both roles (docs/hot-restart.md): taking over from the
previous epoch, and handing over to the next.

As the new epoch E: connect to epoch E-1 (``open``), take its listening sockets for addresses it
has (``listening_socket``) and its host health (``inherit_health``); once our workers are ready,
``take_over``: its admin port, its counts (and, until it exits, their updates), then tell it to
drain, its idle connections coming to us (``pass_on``). Until then it is untouched: a failed
start is a non-event.

As the epoch being replaced: the RPC server (parent.py) answers epoch E+1 through the methods
under "as the epoch being replaced"; ``hand_over`` drains every generation for good. SIGUSR2
starts E+1 ourselves (``start_successor``).
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time

import gevent

from ..generation import READY, STARTING
from ..messages import RESTART_DRAIN, RESTART_HEALTH, RESTART_SHUTDOWN_ADMIN, RESTART_STATS, RESTART_TERMINATE
from ..sockets import bind_listener
from .child import HotRestartError, Predecessor
from .parent import RestartServer
from .wire import Rendezvous

log = logging.getLogger("hotproxy.arbiter")


class HotRestart:
    def __init__(self, args, drain, *, collector, health, admin, supervisor, sockets, config, notifier,
                 pass_on, terminate, on_handed_over):
        """``args``: the command line; ``drain``: DrainSettings; ``collector``: StatsCollector;
        ``health``: HealthSupervisor; ``admin``: AdminPort; ``sockets``: ListenSockets;
        ``config``: the ServingConfig (process/reload.py); ``pass_on(listener, fd)``: an
        idle connection the previous epoch moves to us; ``terminate()``: stop this epoch now;
        ``on_handed_over()``: the next epoch serves."""
        self.args = args
        self.epoch = args.restart_epoch
        self.base_id = args.base_id  # chosen by ``open`` with --use-dynamic-base-id
        self.original_start_time = time.time()  # of epoch 0, once the predecessor says
        self.predecessor = None      # epoch E-1 while we take over from it (child.py)
        self.restart_server = None   # where epoch E+1 finds us (parent.py)
        self.successor_process = None  # the epoch SIGUSR2 started
        self.handed_over = False     # epoch E+1 serves; we drain
        self.admin_lent = False      # our admin port went to epoch E+1
        self.parent_connections = 0  # the predecessor's open connections, while it has any
        self._drain = drain
        self._collector = collector
        self._health = health
        self._admin = admin
        self._supervisor = supervisor
        self._sockets = sockets
        self._config = config
        self._notifier = notifier
        self._pass_on = pass_on
        self.terminate = terminate   # the successor's RESTART_TERMINATE
        self._on_handed_over = on_handed_over

    @property
    def rendezvous(self):
        return Rendezvous(self.args.socket_path, self.args.socket_mode)

    def open(self):
        """Find the predecessor (epoch > 0), then open where our successor will find us.
        Raises HotRestartError."""
        self.predecessor = self._find_predecessor()
        self.restart_server = self._open_restart_server()

    def start(self):
        """We serve: a successor may now take over."""
        self.restart_server.start()

    def abandon(self):
        """Our start failed before any drain: the predecessor serves on, untouched."""
        if self.predecessor is not None:
            self.predecessor.close()

    def close(self):
        """No successor can find us any more."""
        if self.restart_server is not None:
            self.restart_server.close()

    def _open_restart_server(self):
        """Where epoch E+1 will find us; nowhere with --disable-hot-restart. With
        --use-dynamic-base-id the base id is chosen here; --base-id-path is told it."""
        if self.args.disable_hot_restart:
            return RestartServer(self, None)
        if self.args.use_dynamic_base_id:
            listening, self.base_id = self.rendezvous.listen_dynamic(self.epoch)
        else:
            listening = self.rendezvous.listen(self.base_id, self.epoch)
        path = self.args.base_id_path
        if path:
            try:
                with open(path, "w") as base_id_file:
                    base_id_file.write(str(self.base_id))  # no newline, as Envoy writes it
            except OSError as exc:
                listening.close()
                raise HotRestartError(f"--base-id-path {path}: cannot write: {exc.strerror}") from None
        return RestartServer(self, listening)

    # --- as the new epoch

    def _find_predecessor(self):
        if self.epoch == 0:
            return None
        predecessor = Predecessor.connect(self.rendezvous, self.base_id, self.epoch - 1)
        if predecessor is None:
            log.warning("epoch %d is not running: epoch %d starts as a first epoch would",
                        self.epoch - 1, self.epoch)
        else:
            log.info("hot restart: taking over from epoch %d (pid %s)", self.epoch - 1, predecessor.pid)
        return predecessor

    def listening_socket(self, address):
        """The predecessor's socket for this address when it has one, else a new one (also when
        the predecessor died meanwhile: we carry on with what we have)."""
        if self.predecessor is not None and not self.predecessor.gone and address.port:
            try:
                fd = self.predecessor.listen_socket(address.address, address.port)
            except HotRestartError:
                if not self.predecessor.gone:
                    raise
                fd = None
            if fd is not None:
                return socket.socket(fileno=fd)
        return bind_listener(address)

    def take_over(self, bootstrap):
        """Our workers are ready: ask the predecessor for its admin port, its counts, and to
        drain. True when we serve (also when it died on the way); False when it refused."""
        predecessor = self.predecessor
        predecessor.on_connection = self._pass_on
        predecessor.on_final_stats = self._import_parent_stats
        predecessor.on_gone = self._predecessor_gone
        try:
            reply, _ = predecessor.request({"t": RESTART_SHUTDOWN_ADMIN})
            self.original_start_time = reply.get("original_start_time", self.original_start_time)
            self._admin.serve_or_log(bootstrap)
            self._import_parent_stats(predecessor.request({"t": RESTART_STATS})[0])
            predecessor.request({"t": RESTART_DRAIN, "move": sorted(l.name for l in bootstrap.listeners),
                                 "drain_time": self._drain.drain_time, "immediate": self._drain.immediate})
        except HotRestartError as error:
            if not predecessor.gone:
                log.error("hot restart failed: %s", error)
                return False
            log.warning("epoch %d died during the hand-over: carrying on with what we have", self.epoch - 1)
            self._admin.serve_or_log(bootstrap)
            return True
        log.info("hot restart: epoch %d drains, epoch %d serves", self.epoch - 1, self.epoch)
        self._notifier.send(mainpid=os.getpid())
        gevent.spawn(self._poll_predecessor_stats, bootstrap.stats_flush_interval)
        gevent.spawn_later(self._drain.parent_shutdown_time, self._terminate_predecessor)
        return True

    def inherit_health(self):
        """The predecessor's host health, so that clusters whose checks and hosts are unchanged
        start with it (an older epoch that does not know the request just has none to give)."""
        try:
            reply, _ = self.predecessor.request({"t": RESTART_HEALTH})
        except HotRestartError as error:
            log.warning("hot restart: no health-check state from epoch %d: %s", self.epoch - 1, error)
            return
        self._health.inherit(reply.get("health"))

    def _import_parent_stats(self, message):
        alive = not self.predecessor.gone  # a gone predecessor's levels must not come back
        if not self.args.skip_hot_restart_parent_stats:
            self._collector.store.import_parent(message, levels=alive)
        if alive:
            self.parent_connections = message.get("connections", 0)

    def _poll_predecessor_stats(self, interval):
        while not self.predecessor.gone:
            gevent.sleep(interval)
            try:
                self._import_parent_stats(self.predecessor.request({"t": RESTART_STATS})[0])
            except HotRestartError:
                return

    def _predecessor_gone(self):
        """Its levels go with it: nothing stays counted twice (Envoy #10806)."""
        self._collector.store.forget("parent")
        self.parent_connections = 0
        log.info("epoch %d has exited", self.epoch - 1)

    def _terminate_predecessor(self):
        if not self.predecessor.gone:
            log.warning("epoch %d reached --parent-shutdown-time-s: terminating it", self.epoch - 1)
            try:
                self.predecessor.request({"t": RESTART_TERMINATE})
            except HotRestartError:
                pass

    # --- as the epoch being replaced (what parent.py's RestartServer asks of us)

    def listen_socket(self, key):
        """Our listening socket at ``key`` (address, port) for the successor, or None."""
        sock = self._sockets.get(key)
        return sock if sock is not None and sock.fileno() >= 0 else None

    def lend_admin(self):
        """The successor takes our admin port: ours stops. Returns our original start time."""
        self._admin.stop()
        self.admin_lent = True
        return self.original_start_time

    def export_stats(self):
        """Counter deltas since the last export, this epoch's levels and open connections."""
        self._collector.collect()
        store = self._collector.store
        return {**store.export(), "connections": store.gauge("server.total_connections")}

    def export_health(self):
        return self._health.export()

    def config_inventory(self):
        """What we serve, for the successor's reload report (config/diff.py)."""
        return self._config.inventory

    def successor_gone(self):
        """The new epoch failed before taking over: serve exactly as before."""
        if self.admin_lent and not self._supervisor.stopping:
            self.admin_lent = False
            self._admin.serve_or_log(self._config.bootstrap)

    def hand_over(self, move, drain_time, immediate):
        """The successor serves: every generation drains, its idle connections of the listeners
        in ``move`` going to the successor, the others closing over ``drain_time``."""
        self.handed_over = True
        log.info("hot restart: epoch %d serves now; draining (at most %.0f s)", self.epoch + 1,
                 self._drain.parent_shutdown_time)
        deadline = time.monotonic() + self._drain.parent_shutdown_time
        serving = [each for each in self._supervisor.generations if each.state in (READY, STARTING)]
        for generation in serving:
            self._supervisor.drain(generation, move, drain_time, immediate, deadline)
        self._supervisor.wait_stopped_accepting(serving)
        self._on_handed_over()

    def pass_connection(self, listener_name, fd):
        """After the hand-over, an idle connection of ours goes to the successor."""
        self.restart_server.pass_connection(listener_name, fd)

    def relayed_all(self):
        """An epoch that handed over stays until its own predecessor has exited: connections
        and counts that older epoch still sends come through us to our successor."""
        return self.predecessor is None or self.predecessor.gone

    def send_final_stats(self):
        self.restart_server.send_final_stats()

    # --- SIGUSR2

    def start_successor(self):
        """Start our own successor with the same command line (a binary upgrade in one signal)."""
        if self.args.disable_hot_restart:
            log.warning("SIGUSR2 ignored: hot restart is disabled (--disable-hot-restart)")
            return
        if self.successor_process is not None and self.successor_process.poll() is None:
            log.warning("hot restart refused: epoch %d is still starting", self.epoch + 1)
            return
        argv = [sys.executable, "-m", "hotproxy", *self.args.argv_without_epoch,
                "--restart-epoch", str(self.epoch + 1), "--base-id", str(self.base_id)]
        log.info("SIGUSR2: starting epoch %d", self.epoch + 1)
        self.successor_process = subprocess.Popen(argv, close_fds=True)

    def reap_successor(self):
        process = self.successor_process
        if process is not None and process.poll() is not None:
            if process.returncode != 0:
                log.error("epoch %d exited with %s: this epoch serves on", self.epoch + 1, process.returncode)
            self.successor_process = None
