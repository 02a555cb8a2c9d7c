"""The supervisor of the arbiter's children: it starts them, watches them (reaps the dead, kills
the ones whose heartbeats stopped), respawns them with back-off, and stops and retires them.

Two kinds of children. Workers come in generations (process/generation.py), one per config; the
supervisor keeps the list, oldest first, and takes each generation through STARTING → READY →
DRAINING → STOPPED with the reload machine (process/reload.py). How a worker is started is the
``launch_worker(child)`` the arbiter gives (process/spawn.py plus what the worker must know first).
Auxiliary children run once per arbiter whatever the generation: each is described by an
``AuxiliarySpec`` (how to start it, the counter of its restarts, when it stops), so that a new
one is added by registering its spec, here untouched. The access-log flusher is the first; one
with a channel to the arbiter (as workers have) gets its messages read and handed to its spec.

Other components hook in: ``on_worker_ready`` (a worker reported ready: tell it what it missed),
``on_worker_gone`` (a worker process is gone: drop what it held), ``on_retired`` (a generation
has stopped: release what only it used). ``broadcast`` reaches every live worker of the
generations that serve or are about to.

Back-off (``worker_respawn``, ``auxiliary_respawn_delay``): a child that dies within
QUICK_DEATH_S of its start died of something a respawn will not cure at once (a config its
process cannot load, a port, a crash at startup), so the next start waits.
"""
from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Optional

import gevent

from .generation import DRAINING, READY, STARTING, STOPPED, ChildProcess, Generation
from .messages import ADOPT, DRAIN, STOP
from .spawn import read_channel

log = logging.getLogger("hotproxy.arbiter")

HEARTBEAT_TIMEOUT_S = 10.0
STOPPED_ACCEPTING_WAIT_S = 2.0
STOP_GRACE_S = 5.0
QUICK_DEATH_S = 5.0
MAX_RESPAWN_DELAY_S = 30.0
COUNTERS = ("worker.respawned", "server.generations_stopped_early")


def worker_respawn(failures: int, lived: float) -> tuple[int, float]:
    """(consecutive quick deaths, seconds to wait before the respawn) for a worker that exited
    after ``lived`` seconds, having died quickly ``failures`` times in a row before: one that
    lived QUICK_DEATH_S starts again at once; quick deaths wait 0.5 s, 1 s, 2 s… up to 30 s."""
    failures = failures + 1 if lived < QUICK_DEATH_S else 0
    return failures, (min(0.5 * (2 ** (failures - 1)), MAX_RESPAWN_DELAY_S) if failures else 0.0)


def auxiliary_respawn_delay(lived: float) -> float:
    """Seconds to wait before restarting an auxiliary child that exited after ``lived`` seconds."""
    return 0.0 if lived > QUICK_DEATH_S else QUICK_DEATH_S


@dataclass(frozen=True)
class DrainSettings:
    """How a generation (or a whole epoch) drains, as the command line says."""
    drain_time: float              # --drain-time-s: idle connections close over this long
    immediate: bool                # --drain-strategy immediate
    parent_shutdown_time: float    # --parent-shutdown-time-s: then it stops regardless

    @classmethod
    def from_args(cls, args):
        return cls(args.drain_time_s, args.drain_strategy == "immediate", args.parent_shutdown_time_s)


@dataclass(frozen=True)
class AuxiliarySpec:
    """One auxiliary child: the arbiter runs one of it while it runs, restarted when it dies."""
    name: str                                 # its role in logs and in processes(): "flusher"
    spawn: Callable[[], tuple]                # starts it: (Popen, its Channel or None)
    respawn_counter: str                      # counted at every restart: "flusher.respawned"
    stop_order: int = 0                       # auxiliaries stop after the workers, lowest first
    on_message: Optional[Callable] = None     # (Auxiliary, message, fds), when it has a channel
    on_demand: bool = False                   # started (and restarted) by its user, not here


class Auxiliary(ChildProcess):
    """The running instance of an AuxiliarySpec."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec


class Supervisor:
    def __init__(self, stats, launch_worker, concurrency, max_draining):
        """``launch_worker(child)`` starts a worker process for ``child`` (again, on a respawn);
        ``concurrency``: workers per generation; ``max_draining``: --max-draining-generations."""
        self.stats = stats
        self.concurrency = concurrency
        self.max_draining = max_draining
        self.generations = []        # oldest first; the last READY one serves
        self.stopping = False        # the arbiter shuts down: nothing starts or respawns any more
        self._launch = launch_worker
        self._auxiliaries = {}       # name → Auxiliary, in registration order
        self._ready_hooks, self._gone_hooks, self._retired_hooks = [], [], []
        stats.declare(*COUNTERS)

    # hooks

    def on_worker_ready(self, hook):
        """``hook(child)`` runs, in registration order, each time a worker reports ready."""
        self._ready_hooks.append(hook)

    def on_worker_gone(self, hook):
        """``hook(child)`` runs when a worker's process has exited (maybe more than once)."""
        self._gone_hooks.append(hook)

    def on_retired(self, hook):
        """``hook(generation)`` runs when a generation has stopped and left the list."""
        self._retired_hooks.append(hook)

    # generations

    @property
    def serving(self):
        """The newest READY generation."""
        for generation in reversed(self.generations):
            if generation.state == READY:
                return generation
        return None

    def start_generation(self, bootstrap, text, sockets, discovery):
        """A new generation of ``concurrency`` workers for ``bootstrap`` (``text``, listening
        ``sockets`` by listener name, ``discovery`` as Generation takes it), started. Raises
        OSError when a worker cannot be started (then none of the generation runs)."""
        number = self.generations[-1].number + 1 if self.generations else 1
        generation = Generation(number, bootstrap, text, self.concurrency, sockets, discovery)
        self.generations.append(generation)
        try:
            for child in generation.children:
                self._launch(child)
        except OSError:
            self.stop_generation(generation, kill=True)
            raise
        return generation

    def drain(self, generation, move, drain_time, immediate, deadline):
        """``generation`` stops accepting; its idle connections of the listeners in ``move`` go
        to the serving generation, the others close over ``drain_time``. At ``deadline``
        (monotonic) it is stopped regardless."""
        generation.state = DRAINING
        generation.drain_deadline = deadline
        generation.send_all({"t": DRAIN, "move": move, "drain_time": drain_time, "immediate": immediate})

    def wait_stopped_accepting(self, generations, timeout=STOPPED_ACCEPTING_WAIT_S):
        """Until every live worker of ``generations`` has answered its DRAIN (at most
        ``timeout`` s): a connection made after that reaches a newer generation."""
        deadline = time.monotonic() + timeout
        for generation in generations:
            for child in generation.children:
                while child.alive() and not child.stopped_accepting.wait(0.05):
                    if time.monotonic() > deadline:
                        log.warning("generation %d: worker %d did not say it stopped accepting in %.0f s",
                                    generation.number, child.index, timeout)
                        return

    def stop_generation(self, generation, kill=False):
        """Ask ``generation``'s workers to stop (SIGTERM), or kill them, wait and retire it."""
        for child in generation.children:
            if child.alive():
                if kill:
                    child.process.kill()
                else:
                    child.send({"t": STOP})
                    child.process.terminate()
        if kill:
            for child in generation.children:
                if child.process is not None:
                    child.process.wait()
            self._retire(generation)

    def stop_workers(self):
        """Every generation's workers stop now: SIGTERM, STOP_GRACE_S, then SIGKILL."""
        for generation in list(self.generations):
            self.stop_generation(generation)
        deadline = time.monotonic() + STOP_GRACE_S
        while self.live_workers() and time.monotonic() < deadline:
            gevent.sleep(0.05)
        for generation in list(self.generations):
            self.stop_generation(generation, kill=True)

    def draining(self):
        return [generation for generation in self.generations if generation.state == DRAINING]

    def enforce_max_draining(self):
        """More than --max-draining-generations draining: the oldest stop now."""
        draining = self.draining()
        for generation in draining[:max(len(draining) - self.max_draining, 0)]:
            log.warning("generation %d stopped early: more than %d generations draining",
                        generation.number, self.max_draining)
            self.stats.add("server.generations_stopped_early")
            self.stop_generation(generation)

    def _retire(self, generation):
        generation.state = STOPPED
        generation.close()
        for child in generation.children:
            self._worker_gone(child)
            if child.channel is not None:
                child.channel.close()
        if generation in self.generations:
            self.generations.remove(generation)
        for hook in self._retired_hooks:
            hook(generation)

    # workers

    def broadcast(self, message, draining=False):
        """``message`` to every live worker of every STARTING or READY generation (and of the
        DRAINING ones too with ``draining``)."""
        states = (STARTING, READY, DRAINING) if draining else (STARTING, READY)
        for generation in self.generations:
            if generation.state in states:
                generation.send_all(message)

    def adopt(self, listener_name, fd):
        """An idle connection of ``listener_name`` (``fd``, which stays the caller's to close)
        goes to a worker of the serving generation, if that one serves the listener."""
        serving = self.serving
        if serving is None or self.stopping or listener_name not in serving.listener_names:
            return
        adopter = serving.adopter()
        if adopter is not None:
            adopter.send({"t": ADOPT, "listener": listener_name}, [fd])

    def heartbeat(self, child):
        child.last_heartbeat = time.monotonic()

    def worker_ready(self, child):
        child.last_heartbeat = time.monotonic()
        child.ready.set()
        for hook in self._ready_hooks:
            hook(child)

    def live_workers(self):
        return [child for generation in self.generations for child in generation.live_children()]

    def ready_workers(self):
        return {child for child in self.live_workers() if child.ready.is_set()}

    def join_readers(self, timeout):
        """Wait (at most ``timeout``) for what exited workers still had on their channels."""
        gevent.joinall([c.reader for g in self.generations for c in g.children if c.reader], timeout=timeout)

    def _worker_gone(self, child):
        for hook in self._gone_hooks:
            hook(child)

    # auxiliary children

    def register(self, spec):
        self.stats.declare(spec.respawn_counter)
        self._auxiliaries[spec.name] = Auxiliary(spec)

    def auxiliary(self, name):
        return self._auxiliaries[name]

    def start_auxiliaries(self):
        """Those not started yet (the xDS process may have started before the others), but
        the ones started on demand."""
        for auxiliary in self._auxiliaries.values():
            if not auxiliary.alive() and not auxiliary.spec.on_demand:
                self._start_auxiliary(auxiliary)

    def start_auxiliary(self, name):
        self._start_auxiliary(self._auxiliaries[name])

    def restart_auxiliary(self, name):
        """Stop it and start it again now, as asked (not counted as a respawn)."""
        auxiliary = self._auxiliaries[name]
        process, auxiliary.process = auxiliary.process, None    # tick() leaves it alone now
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if auxiliary.channel is not None:
            auxiliary.channel.close()
        self._start_auxiliary(auxiliary)

    def stop_auxiliaries(self):
        """After the workers (the flusher writes what they sent): SIGTERM, then SIGKILL after
        STOP_GRACE_S."""
        for auxiliary in sorted(self._auxiliaries.values(), key=lambda a: a.spec.stop_order):
            if auxiliary.alive():
                auxiliary.process.terminate()
                try:
                    auxiliary.process.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    auxiliary.process.kill()
            if auxiliary.channel is not None:
                auxiliary.channel.close()

    def signal(self, name, signum):
        auxiliary = self._auxiliaries[name]
        if auxiliary.alive():
            auxiliary.process.send_signal(signum)

    def _start_auxiliary(self, auxiliary):
        if self.stopping:
            return
        spec = auxiliary.spec
        auxiliary.process, auxiliary.channel = spec.spawn()
        auxiliary.started_at = time.monotonic()
        if auxiliary.channel is not None and spec.on_message is not None:
            auxiliary.reader = gevent.spawn(read_channel, auxiliary, spec.on_message)

    def processes(self):
        """(role, generation, worker index, pid) of every live process, the arbiter first."""
        out = [("arbiter", None, None, os.getpid())]
        out += [(name, None, None, a.pid) for name, a in self._auxiliaries.items() if a.alive()]
        for generation in self.generations:
            for child in generation.children:
                if child.alive():
                    out.append(("worker", generation.number, child.index, child.pid))
        return out

    # every tick

    def tick(self):
        """Reap, respawn, kill the silent, stop the draining generations past their deadline,
        retire the ones that have exited."""
        now = time.monotonic()
        for auxiliary in self._auxiliaries.values():
            if not self.stopping and auxiliary.process is not None and auxiliary.process.poll() is not None:
                self._auxiliary_exited(auxiliary, now)
        for generation in list(self.generations):
            for child in generation.children:
                if child.process is None:
                    continue
                if child.process.poll() is not None:
                    self._worker_exited(generation, child, now)
                elif (child.ready.is_set() and now - child.last_heartbeat > HEARTBEAT_TIMEOUT_S
                      and generation.state != STOPPED):
                    log.error("%s (pid %d) sent no heartbeat for %.0f s: killing it",
                              child.title, child.pid, now - child.last_heartbeat)
                    child.process.kill()
            if generation.state == DRAINING:
                if not generation.live_children():
                    # retired once its channels are read: closing one before would drop the
                    # connections its workers handed over last (each rides its channel), and
                    # their clients would see a reset
                    generation.exited_by = min(generation.exited_by, now)
                    if generation.channels_read() or now > generation.exited_by + STOP_GRACE_S:
                        log.info("generation %d has exited", generation.number)
                        self._retire(generation)
                elif generation.drain_deadline and now > generation.drain_deadline:
                    log.warning("generation %d reached --parent-shutdown-time-s: stopping it", generation.number)
                    generation.drain_deadline = now + STOP_GRACE_S
                    self.stop_generation(generation)

    def _auxiliary_exited(self, auxiliary, now):
        spec = auxiliary.spec
        self.stats.add(spec.respawn_counter)
        if auxiliary.channel is not None:
            auxiliary.channel.close()
        if spec.on_demand:
            log.error("the %s exited with %s; its next user starts it again", spec.name,
                      auxiliary.process.returncode)
            auxiliary.process = auxiliary.channel = None
            return
        log.error("the %s exited with %s; restarting it", spec.name, auxiliary.process.returncode)
        delay = auxiliary_respawn_delay(now - auxiliary.started_at)
        if not delay:
            self._start_auxiliary(auxiliary)
        else:
            auxiliary.process = auxiliary.channel = None
            gevent.spawn_later(delay, self._start_auxiliary, auxiliary)

    def _worker_exited(self, generation, child, now):
        code = child.process.returncode
        pid = child.pid
        child.process = None
        self._worker_gone(child)
        if generation.state == STARTING and not self.stopping and not child.ready.is_set():
            reason = f"{child.title} (pid {pid}) exited with {code} before it was ready"
            log.error("%s", reason)
            generation.worker_exited_starting(reason)
            return
        if generation.state != READY or self.stopping:
            return
        lived = now - child.started_at
        child.failures, delay = worker_respawn(child.failures, lived)
        log.error("%s (pid %d) exited with %s after %.1f s; restarting it in %.1f s",
                  child.title, pid, code, lived, delay)
        self.stats.add("worker.respawned")
        gevent.spawn_later(delay, self._respawn, generation, child)

    def _respawn(self, generation, child):
        if generation.state == READY and not self.stopping and child.process is None:
            self._launch(child)
