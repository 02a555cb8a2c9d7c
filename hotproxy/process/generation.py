"""A generation: the workers started for one config, and each worker child's record.

A generation goes STARTING → READY → DRAINING → STOPPED. It owns the memfd holding the config text
its workers are started with, so every worker (and every respawn) runs exactly the config that
was validated, whatever happens to the file afterwards. ``replace_config_text`` swaps in a new
memfd for the respawns to come (a worker already running keeps the copy it inherited).
How a child is started is process/spawn.py's; when, and what happens when it dies, is
process/supervisor.py's.
"""
from __future__ import annotations

import os
import time

import gevent
from gevent.event import Event

STARTING, READY, DRAINING, STOPPED = "starting", "ready", "draining", "stopped"


class ChildProcess:
    """A child process of the arbiter (its Popen, once started) and its channel, if any."""

    def __init__(self):
        self.process = None
        self.channel = None
        self.reader = None         # the greenlet reading its channel
        self.started_at = 0.0

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def send(self, message, fds=()):
        """False when it has no channel or the channel is gone."""
        if self.channel is None:
            return False
        try:
            self.channel.send(message, fds)
            return True
        except OSError:
            return False


class Child(ChildProcess):
    """One worker process and its channel."""

    def __init__(self, generation, index):
        super().__init__()
        self.generation = generation
        self.index = index
        self.ready = Event()
        self.stopped_accepting = Event()   # it answered DRAIN
        self.last_heartbeat = 0.0
        self.failures = 0          # consecutive quick deaths, for the respawn back-off
        self.spawns = 0

    @property
    def stats_source(self):
        """This process's name in the arbiter's stats: one per spawn, so that the levels a dead
        worker reported are never confused with those of its replacement."""
        return f"{self.generation.number}.{self.index}.{self.spawns}"

    @property
    def title(self):
        return f"hotproxy: worker {self.index} [gen {self.generation.number}]"


class Generation:
    def __init__(self, number, bootstrap, config_text, concurrency, sockets, discovery=None):
        """``discovery``: the (DNS resolvers, health checkers, outlier detectors) of its config
        by cluster name (process/discovery.py)."""
        self.number = number
        self.bootstrap = bootstrap
        self.sockets = sockets          # listener name → the arbiter's listening socket
        self.state = STARTING
        self.children = [Child(self, index) for index in range(concurrency)]
        self.config_fd = self._memfd(config_text)
        self.drain_deadline = None
        #: when the arbiter first found every worker exited (a bound on reading their channels)
        self.exited_by = float("inf")
        #: why it cannot become ready: a worker exited before it was (its config, its code)
        self.start_failure = None
        self._start_failed = Event()
        self._next_adopter = 0
        # cluster name → its ClusterResolver (process/dns.py), ClusterChecker (process/health.py),
        # ClusterOutliers (process/outlier.py)
        self.dns, self.health, self.outliers = discovery or ({}, {}, {})

    def __repr__(self):
        return f"<Generation {self.number} {self.state} workers={[c.pid for c in self.children]}>"

    @property
    def listener_names(self):
        return {listener.name for listener in self.bootstrap.listeners}

    def live_children(self):
        return [child for child in self.children if child.alive()]

    def channels_read(self):
        """Whether the arbiter has read every channel of this generation to its end: what an
        exited worker sent last (an idle connection on its way to the next generation, its
        last stats) is still in its channel until then."""
        return all(child.reader is None or child.reader.dead for child in self.children)

    def adopter(self):
        """A ready worker to take over a connection, round robin; None if there is none."""
        ready = [child for child in self.children if child.ready.is_set() and child.alive()]
        if not ready:
            return None
        self._next_adopter = (self._next_adopter + 1) % len(ready)
        return ready[self._next_adopter]

    def wait_ready(self, timeout):
        """Whether every worker reported ready within ``timeout``; False at once when one exited
        before it did (``start_failure`` says which)."""
        deadline = time.monotonic() + timeout
        for child in self.children:
            gevent.wait([child.ready, self._start_failed], timeout=max(deadline - time.monotonic(), 0), count=1)
            if self.start_failure is not None or not child.ready.is_set():
                return False
        return True

    def worker_exited_starting(self, reason):
        if self.start_failure is None:
            self.start_failure = reason
            self._start_failed.set()

    def send_all(self, message):
        for child in self.live_children():
            child.send(message)

    def replace_config_text(self, text):
        """Workers spawned from now on (respawns) start with ``text``: a new memfd replaces the
        old one, which is closed here. A worker already running read its own inherited copy."""
        old, self.config_fd = self.config_fd, self._memfd(text)
        if old is not None:
            os.close(old)

    def _memfd(self, text):
        fd = os.memfd_create(f"hotproxy-config-gen{self.number}", os.MFD_CLOEXEC)
        os.write(fd, text.encode())
        return fd

    def close(self):
        if self.config_fd is not None:
            os.close(self.config_fd)
            self.config_fd = None
