"""A generation: the workers started for one config, and how each worker child is spawned.

A generation goes STARTING → READY → DRAINING → STOPPED. It owns the memfd holding the config text
its workers were started with, so every worker (and every respawn) runs exactly the config that
was validated, whatever happens to the file afterwards.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import gevent
from gevent.event import Event

from .channel import Channel, ChannelClosed, socketpair

log = logging.getLogger(__name__)

STARTING, READY, DRAINING, STOPPED = "starting", "ready", "draining", "stopped"


class Child:
    """One worker process and its channel."""

    def __init__(self, generation, index):
        self.generation = generation
        self.index = index
        self.process = None
        self.channel = None
        self.ready = Event()
        self.started_at = 0.0
        self.last_heartbeat = 0.0
        self.failures = 0          # consecutive quick deaths, for the respawn back-off
        self.reader = None
        self.spawns = 0

    @property
    def stats_source(self):
        """This process's name in the arbiter's stats: one per spawn, so that the levels a dead
        worker reported are never confused with those of its replacement."""
        return f"{self.generation.number}.{self.index}.{self.spawns}"

    @property
    def title(self):
        return f"hotproxy: worker {self.index} [gen {self.generation.number}]"

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def send(self, message, fds=()):
        try:
            self.channel.send(message, fds)
            return True
        except OSError:
            return False


class Generation:
    def __init__(self, number, bootstrap, config_text, concurrency, sockets):
        self.number = number
        self.bootstrap = bootstrap
        self.sockets = sockets          # listener name → the arbiter's listening socket
        self.state = STARTING
        self.children = [Child(self, index) for index in range(concurrency)]
        self.config_fd = os.memfd_create(f"hotproxy-config-gen{number}", os.MFD_CLOEXEC)
        os.write(self.config_fd, config_text.encode())
        self.drain_deadline = None
        self._next_adopter = 0
        self.health = {}                # cluster name → its ClusterChecker (process/health.py)
        self.dns = {}                   # cluster name → its ClusterResolver (process/dns.py)

    def __repr__(self):
        return f"<Generation {self.number} {self.state} workers={[c.pid for c in self.children]}>"

    @property
    def listener_names(self):
        return {listener.name for listener in self.bootstrap.listeners}

    def live_children(self):
        return [child for child in self.children if child.alive()]

    def adopter(self):
        """A ready worker to take over a connection, round robin; None if there is none."""
        ready = [child for child in self.children if child.ready.is_set() and child.alive()]
        if not ready:
            return None
        self._next_adopter = (self._next_adopter + 1) % len(ready)
        return ready[self._next_adopter]

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        for child in self.children:
            if not child.ready.wait(max(deadline - time.monotonic(), 0)):
                return False
        return True

    def send_all(self, message):
        for child in self.live_children():
            child.send(message)

    def close(self):
        if self.config_fd is not None:
            os.close(self.config_fd)
            self.config_fd = None


def spawn_worker(child, listen_sockets, on_message, log_options, access_log_fd, extra_argv=(), extra_fds=()):
    """fork+exec a fresh interpreter for ``child``: never a bare fork of the arbiter, whose hub
    and greenlets must not be copied. Its descriptors: the channel, the config memfd, the
    access-log socket, one listening socket per listener name, and ``extra_fds`` (the shared
    connection counts, named in ``extra_argv``)."""
    generation = child.generation
    parent_end, child_end = socketpair()
    # a listener drained through the admin interface has its socket closed (fileno -1)
    listen_fds = {name: sock.fileno() for name, sock in listen_sockets.items() if sock.fileno() >= 0}
    argv = [sys.executable, "-m", "hotproxy.process.worker",
            "--config-fd", str(generation.config_fd), "--channel-fd", str(child_end.fileno()),
            "--arbiter-pid", str(os.getpid()), "--title", child.title,
            "--access-log-fd", str(access_log_fd), *log_options.argv()]
    for name, fd in listen_fds.items():
        argv += ["--listen-fd", f"{name}={fd}"]
    argv += extra_argv
    try:
        child.process = subprocess.Popen(
            argv, pass_fds=[child_end.fileno(), generation.config_fd, access_log_fd, *listen_fds.values(),
                            *extra_fds],
            close_fds=True)
    finally:
        child_end.close()
    child.channel = Channel(parent_end)
    child.spawns += 1
    child.ready.clear()
    child.started_at = child.last_heartbeat = time.monotonic()
    child.reader = gevent.spawn(_read_channel, child, on_message)
    log.info("started %s (pid %d)", child.title, child.pid)


def spawn_flusher(sink_fd, log_options, flush_interval_ms, flush_min_kb):
    """The access-log flusher process, reading from the receiving end of the access-log socket
    (--file-flush-interval-msec, --file-flush-min-size-kb)."""
    argv = [sys.executable, "-m", "hotproxy.process.flusher", "--sink-fd", str(sink_fd),
            "--arbiter-pid", str(os.getpid()), "--flush-interval-ms", str(flush_interval_ms),
            "--flush-min-kb", str(flush_min_kb), *log_options.argv()]
    process = subprocess.Popen(argv, pass_fds=[sink_fd], close_fds=True)
    log.info("started hotproxy: flusher (pid %d)", process.pid)
    return process


def _read_channel(child, on_message):
    channel = child.channel
    while True:
        try:
            message, fds = channel.recv()
        except (ChannelClosed, OSError):
            return
        on_message(child, message, fds)
