"""The arbiter's side of hot restart, both roles (docs/hot-restart.md): taking over from the
previous epoch, and handing over to the next. A mixin of ``Arbiter`` (process/arbiter.py).
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time

import gevent

from ..generation import DRAINING, READY, STARTING
from ..sockets import bind_listener
from .child import HotRestartError, Predecessor
from .parent import RestartServer
from .wire import Rendezvous

log = logging.getLogger("hotproxy.arbiter")


class EpochOperations:
    @property
    def rendezvous(self):
        return Rendezvous(self.args.socket_path, self.args.socket_mode)

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

    def _listening_socket(self, address):
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

    def _take_over(self, bootstrap):
        """Our workers are ready: ask the predecessor for its admin port, its counts, and to
        drain. True when we serve (also when it died on the way); False when it refused."""
        predecessor = self.predecessor
        predecessor.on_connection = self._pass_on
        predecessor.on_final_stats = self._import_parent_stats
        predecessor.on_gone = self._predecessor_gone
        try:
            reply, _ = predecessor.request({"t": "shutdown_admin"})
            self.original_start_time = reply.get("original_start_time", self.original_start_time)
            self._serve_admin_or_log(bootstrap)
            self._import_parent_stats(predecessor.request({"t": "stats"})[0])
            predecessor.request({"t": "drain", "move": sorted(l.name for l in bootstrap.listeners),
                                 "drain_time": self.drain_time, "immediate": self.drain_immediate})
        except HotRestartError as error:
            if not predecessor.gone:
                log.error("hot restart failed: %s", error)
                return False
            log.warning("epoch %d died during the hand-over: carrying on with what we have", self.epoch - 1)
            self._serve_admin_or_log(bootstrap)
            return True
        log.info("hot restart: epoch %d drains, epoch %d serves", self.epoch - 1, self.epoch)
        self.notifier.send(mainpid=os.getpid())
        gevent.spawn(self._poll_predecessor_stats, bootstrap.stats_flush_interval)
        gevent.spawn_later(self.parent_shutdown_time, self._terminate_predecessor)
        return True

    def _inherit_health(self):
        """The predecessor's host health, so that clusters whose checks and hosts are unchanged
        start with it (an older epoch that does not know the request just has none to give)."""
        try:
            reply, _ = self.predecessor.request({"t": "health"})
        except HotRestartError as error:
            log.warning("hot restart: no health-check state from epoch %d: %s", self.epoch - 1, error)
            return
        self.health.inherit(reply.get("health"))

    def _serve_admin_or_log(self, bootstrap):
        try:
            self._serve_admin(bootstrap)
        except OSError as error:
            log.error("%s: serving without an admin interface", error)

    def _import_parent_stats(self, message):
        alive = not self.predecessor.gone  # a gone predecessor's levels must not come back
        if not self.args.skip_hot_restart_parent_stats:
            self.stats.import_parent(message, levels=alive)
        if alive:
            self.parent_connections = message.get("connections", 0)

    def _poll_predecessor_stats(self, interval):
        while not self.predecessor.gone:
            gevent.sleep(interval)
            try:
                self._import_parent_stats(self.predecessor.request({"t": "stats"})[0])
            except HotRestartError:
                return

    def _predecessor_gone(self):
        """Its levels go with it: nothing stays counted twice (Envoy #10806)."""
        self.stats.forget("parent")
        self.parent_connections = 0
        log.info("epoch %d has exited", self.epoch - 1)

    def _terminate_predecessor(self):
        if not self.predecessor.gone:
            log.warning("epoch %d reached --parent-shutdown-time-s: terminating it", self.epoch - 1)
            try:
                self.predecessor.request({"t": "terminate"})
            except HotRestartError:
                pass

    # --- as the epoch being replaced

    def stop_admin(self):
        if self.admin is not None:
            self.admin.stop()
        self.admin, self.admin_key = None, None
        self.admin_lent = True

    def successor_gone(self):
        """The new epoch failed before taking over: serve exactly as before."""
        if self.admin_lent and not self.stopping:
            self.admin_lent = False
            self._serve_admin_or_log(self.bootstrap)

    def hand_over(self, move, drain_time, immediate):
        """The successor serves: every generation drains, its idle connections of the listeners
        in ``move`` going to the successor, the others closing over ``drain_time``."""
        self.handed_over = True
        log.info("hot restart: epoch %d serves now; draining (at most %.0f s)", self.epoch + 1,
                 self.parent_shutdown_time)
        deadline = time.monotonic() + self.parent_shutdown_time
        for generation in self.generations:
            if generation.state in (READY, STARTING):
                generation.state = DRAINING
                generation.drain_deadline = deadline
                generation.send_all({"t": "drain", "move": move, "drain_time": drain_time,
                                     "immediate": immediate})
        self._set_title("handed over")

    def _relayed_all(self):
        """An epoch that handed over stays until its own predecessor has exited: connections
        and counts that older epoch still sends come through us to our successor."""
        return self.predecessor is None or self.predecessor.gone

    def handle_usr2(self):
        """Start our own successor with the same command line (a binary upgrade in one signal)."""
        if self.stopping or self.handed_over:
            return None
        if self.args.disable_hot_restart:
            log.warning("SIGUSR2 ignored: hot restart is disabled (--disable-hot-restart)")
            return None
        if self.successor_process is not None and self.successor_process.poll() is None:
            log.warning("hot restart refused: epoch %d is still starting", self.epoch + 1)
            return None
        argv = [sys.executable, "-m", "hotproxy", *self.args.argv_without_epoch,
                "--restart-epoch", str(self.epoch + 1), "--base-id", str(self.base_id)]
        log.info("SIGUSR2: starting epoch %d", self.epoch + 1)
        self.successor_process = subprocess.Popen(argv, close_fds=True)
        return None

    def _reap_successor(self):
        process = self.successor_process
        if process is not None and process.poll() is not None:
            if process.returncode != 0:
                log.error("epoch %d exited with %s: this epoch serves on", self.epoch + 1, process.returncode)
            self.successor_process = None
