"""The supervisor (process/supervisor.py) over fake processes: its back-off decisions, what it
does when a worker or an auxiliary child dies, and whom a broadcast reaches."""
import signal
import subprocess

import gevent
import pytest

from hotproxy.config.bootstrap import Bootstrap
from hotproxy.process import supervisor as supervisor_module
from hotproxy.process.generation import DRAINING, READY, STOPPED
from hotproxy.process.messages import DRAIN, STOP
from hotproxy.process.supervisor import (QUICK_DEATH_S, AuxiliarySpec, Supervisor, auxiliary_respawn_delay,
                                         worker_respawn)
from hotproxy.stats.store import StatsStore


# --- the back-off rules

@pytest.mark.parametrize("failures, lived, expected", [
    (0, QUICK_DEATH_S + 1, (0, 0.0)),        # lived long enough: again at once
    (3, QUICK_DEATH_S, (0, 0.0)),            # exactly QUICK_DEATH_S is not quick
    (0, 0.1, (1, 0.5)),                      # quick deaths: 0.5 s, 1 s, 2 s...
    (1, 0.1, (2, 1.0)),
    (2, 4.9, (3, 2.0)),
    (6, 0.1, (7, 30.0)),                     # ...capped at 30 s
    (20, 0.1, (21, 30.0)),
])
def test_a_worker_that_dies_quickly_waits_longer_each_time(failures, lived, expected):
    assert worker_respawn(failures, lived) == expected


def test_an_auxiliary_child_that_dies_quickly_waits_quick_death_s():
    assert auxiliary_respawn_delay(QUICK_DEATH_S + 0.1) == 0.0
    assert auxiliary_respawn_delay(0.2) == QUICK_DEATH_S
    assert auxiliary_respawn_delay(QUICK_DEATH_S) == QUICK_DEATH_S


# --- fakes

class Process:
    pids = iter(range(1000, 10**6))

    def __init__(self):
        self.pid = next(self.pids)
        self.returncode = None
        self.signals = []

    def poll(self):
        return self.returncode

    def exit(self, code=1):
        self.returncode = code

    def kill(self):
        self.signals.append("KILL")
        self.returncode = -9

    def terminate(self):
        self.signals.append("TERM")

    def send_signal(self, number):
        self.signals.append(number)

    def wait(self, timeout=None):
        if self.returncode is None:
            raise subprocess.TimeoutExpired("fake", timeout)
        return self.returncode


class Channel:
    def __init__(self):
        self.sent = []
        self.closed = False

    def send(self, message, fds=()):
        self.sent.append(message)

    def close(self):
        self.closed = True


class Launcher:
    def __init__(self):
        self.launched = []

    def __call__(self, child):
        child.process, child.channel = Process(), Channel()
        child.spawns += 1
        child.started_at = child.last_heartbeat = supervisor_module.time.monotonic()
        self.launched.append(child)


class Clock:
    """supervisor.py's ``time.monotonic``, moved by hand."""

    def __init__(self, monkeypatch):
        self.now = 1000.0
        monkeypatch.setattr(supervisor_module.time, "monotonic", lambda: self.now)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def spawn_later(monkeypatch):
    """gevent.spawn_later recorded instead of run: (delay, function, args)."""
    calls = []
    monkeypatch.setattr(supervisor_module.gevent, "spawn_later", lambda delay, fn, *args: calls.append((delay, fn, args)))
    return calls


def supervisor_with(concurrency=2):
    stats, launcher = StatsStore(), Launcher()
    return Supervisor(stats, launcher, concurrency, max_draining=2), stats, launcher


def started(supervisor, state=READY):
    generation = supervisor.start_generation(Bootstrap(), "text", {}, None)
    generation.state = state
    generation.close()   # the fakes need no memfd
    return generation


# --- workers

def test_a_worker_that_dies_quickly_is_respawned_after_a_growing_delay(clock, spawn_later):
    supervisor, stats, launcher = supervisor_with(concurrency=1)
    gone = []
    supervisor.on_worker_gone(gone.append)
    generation = started(supervisor)
    child = generation.children[0]
    for expected_delay in (0.5, 1.0, 2.0):
        clock.now += 0.2
        child.process.exit(1)
        supervisor.tick()
        delay, respawn, args = spawn_later.pop()
        assert delay == expected_delay and child.process is None and gone[-1] is child
        respawn(*args)
    assert len(launcher.launched) == 4 and stats.counters["worker.respawned"] == 3
    clock.now += QUICK_DEATH_S + 1     # a long life resets the count
    child.process.exit(0)
    supervisor.tick()
    assert spawn_later.pop()[0] == 0.0 and child.failures == 0


def test_no_respawn_outside_a_ready_generation_or_while_stopping(clock, spawn_later):
    supervisor, stats, _launcher = supervisor_with(concurrency=1)
    draining = started(supervisor, DRAINING)
    draining.children[0].process.exit(0)
    supervisor.tick()
    ready = started(supervisor)
    supervisor.stopping = True
    ready.children[0].process.exit(1)
    supervisor.tick()
    assert spawn_later == [] and stats.counters["worker.respawned"] == 0


def test_a_worker_silent_for_too_long_is_killed(clock, spawn_later):
    supervisor, _stats, _launcher = supervisor_with(concurrency=1)
    child = started(supervisor).children[0]
    supervisor.worker_ready(child)
    clock.now += supervisor_module.HEARTBEAT_TIMEOUT_S - 1
    supervisor.tick()
    assert child.process.signals == []
    supervisor.heartbeat(child)
    clock.now += supervisor_module.HEARTBEAT_TIMEOUT_S + 1
    process = child.process
    supervisor.tick()
    assert process.signals == ["KILL"]


def test_ready_hooks_run_in_order_when_a_worker_reports_ready(clock):
    supervisor, _stats, _launcher = supervisor_with(concurrency=1)
    seen = []
    supervisor.on_worker_ready(lambda child: seen.append(("first", child.index)))
    supervisor.on_worker_ready(lambda child: seen.append(("second", child.index)))
    child = started(supervisor).children[0]
    supervisor.worker_ready(child)
    assert child.ready.is_set() and seen == [("first", 0), ("second", 0)]


def test_a_draining_generation_is_stopped_at_its_deadline_and_retired_once_empty(clock, spawn_later):
    supervisor, _stats, _launcher = supervisor_with(concurrency=1)
    retired = []
    supervisor.on_retired(retired.append)
    generation = started(supervisor)
    supervisor.drain(generation, ["l"], 5.0, False, clock.now + 10)
    channel = generation.children[0].channel
    assert generation.state == DRAINING
    assert channel.sent[-1] == {"t": DRAIN, "move": ["l"], "drain_time": 5.0, "immediate": False}
    clock.now += 11
    supervisor.tick()
    assert channel.sent[-1] == {"t": STOP} and generation.children[0].process.signals == ["TERM"]
    generation.children[0].process.exit(0)
    supervisor.tick()
    supervisor.tick()
    assert retired == [generation] and generation.state == STOPPED and supervisor.generations == []
    assert channel.closed


class Reader:
    """A channel's reader greenlet, as far as the supervisor looks at it."""
    dead = False


def test_an_exited_generation_is_retired_only_once_its_channels_are_read(clock):
    """A drained worker's last message may be an idle connection handed over just before it
    exited: closing the channel before reading it would reset that connection."""
    supervisor, _stats, _launcher = supervisor_with(concurrency=1)
    generation = started(supervisor)
    supervisor.drain(generation, ["l"], 5.0, False, clock.now + 600)
    child = generation.children[0]
    child.reader = reader = Reader()
    channel = child.channel
    child.process.exit(0)
    supervisor.tick()
    clock.now += 1
    supervisor.tick()
    assert not channel.closed and generation.state == DRAINING
    reader.dead = True      # it read the channel to its end
    supervisor.tick()
    assert channel.closed and generation.state == STOPPED and supervisor.generations == []


def test_a_channel_never_read_to_its_end_is_closed_after_the_grace(clock):
    supervisor, _stats, _launcher = supervisor_with(concurrency=1)
    generation = started(supervisor)
    supervisor.drain(generation, ["l"], 5.0, False, clock.now + 600)
    child = generation.children[0]
    child.reader = Reader()
    child.process.exit(0)
    supervisor.tick()
    clock.now += supervisor_module.STOP_GRACE_S + 0.1
    supervisor.tick()
    assert child.channel.closed and generation.state == STOPPED


def test_the_oldest_draining_generations_stop_beyond_max_draining(clock):
    supervisor, stats, _launcher = supervisor_with(concurrency=1)
    generations = [started(supervisor) for _ in range(4)]
    for generation in generations[:3]:
        supervisor.drain(generation, [], 0.0, False, clock.now + 100)
    supervisor.enforce_max_draining()
    assert stats.counters["server.generations_stopped_early"] == 1
    assert generations[0].children[0].process.signals == ["TERM"]
    assert generations[1].children[0].process.signals == []


def test_stop_workers_kills_and_retires_every_generation(clock, monkeypatch):
    monkeypatch.setattr(supervisor_module, "STOP_GRACE_S", 0.0)
    supervisor, _stats, _launcher = supervisor_with(concurrency=1)
    generations = [started(supervisor), started(supervisor)]
    supervisor.stop_workers()
    assert supervisor.generations == []
    assert all(g.children[0].process.signals == ["TERM", "KILL"] for g in generations)


def test_broadcast_reaches_the_serving_and_starting_generations_or_every_one(clock):
    supervisor, _stats, _launcher = supervisor_with(concurrency=2)
    draining, serving, starting = started(supervisor), started(supervisor), started(supervisor, "starting")
    supervisor.drain(draining, [], 0.0, False, clock.now + 100)
    supervisor.broadcast({"t": "x"})
    supervisor.broadcast({"t": "y"}, draining=True)
    assert [m["t"] for m in serving.children[1].channel.sent] == ["x", "y"]
    assert [m["t"] for m in starting.children[0].channel.sent] == ["x", "y"]
    assert [m["t"] for m in draining.children[0].channel.sent] == [DRAIN, "y"]
    assert supervisor.serving is serving


# --- auxiliary children

def aux_spec(name="flusher", stop_order=0, channel=None):
    spawned = []

    def spawn():
        spawned.append(Process())
        return spawned[-1], channel
    return AuxiliarySpec(name, spawn, f"{name}.respawned", stop_order), spawned


def test_an_auxiliary_child_is_restarted_at_once_after_a_long_life_later_after_a_quick_death(clock, spawn_later):
    supervisor, stats, _launcher = supervisor_with()
    spec, spawned = aux_spec()
    supervisor.register(spec)
    assert stats.counters["flusher.respawned"] == 0
    supervisor.start_auxiliaries()
    clock.now += QUICK_DEATH_S + 1
    spawned[-1].exit(1)
    supervisor.tick()
    assert len(spawned) == 2 and spawn_later == []
    clock.now += 1
    spawned[-1].exit(1)
    supervisor.tick()
    assert len(spawned) == 2 and spawn_later[0][0] == QUICK_DEATH_S
    assert supervisor.auxiliary("flusher").process is None
    assert [role for role, *_ in supervisor.processes()] == ["arbiter"]
    delay, start, args = spawn_later.pop()
    start(*args)
    assert len(spawned) == 3 and stats.counters["flusher.respawned"] == 2
    assert [role for role, *_ in supervisor.processes()] == ["arbiter", "flusher"]


def test_auxiliary_children_stop_in_their_order_and_take_signals(clock):
    supervisor, _stats, _launcher = supervisor_with()
    order = []
    late, late_spawned = aux_spec("late", stop_order=2)
    early, early_spawned = aux_spec("early", stop_order=1)
    supervisor.register(late)
    supervisor.register(early)
    supervisor.start_auxiliaries()
    for process in (*late_spawned, *early_spawned):
        process.terminate = (lambda p: lambda: (order.append(p.pid), p.exit(0)))(process)
    supervisor.signal("late", signal.SIGUSR1)
    assert late_spawned[0].signals == [signal.SIGUSR1]
    supervisor.stop_auxiliaries()
    assert order == [early_spawned[0].pid, late_spawned[0].pid]


def test_an_auxiliary_child_with_a_channel_has_its_messages_read(clock, monkeypatch):
    received = []

    class OneMessage(Channel):
        def __init__(self):
            super().__init__()
            self.messages = [({"t": "hello"}, [])]

        def recv(self):
            if not self.messages:
                raise OSError("closed")
            return self.messages.pop()

    channel = OneMessage()
    supervisor, _stats, _launcher = supervisor_with()
    spec = AuxiliarySpec("xds", lambda: (Process(), channel), "xds.respawned",
                         on_message=lambda aux, message, fds: received.append((aux.spec.name, message)))
    supervisor.register(spec)
    supervisor.start_auxiliaries()
    gevent.sleep(0)
    assert received == [("xds", {"t": "hello"})]
    assert supervisor.auxiliary("xds").send({"t": "update"}) and channel.sent == [{"t": "update"}]


# --- a reload serves once the older workers stopped accepting

def test_the_wait_ends_only_once_every_live_older_worker_stopped_accepting():
    supervisor, _stats, _launcher = supervisor_with(concurrency=3)
    older = started(supervisor)
    supervisor.drain(older, ["l"], 0.0, False, 10**9)
    first, second, dead = older.children
    dead.process.exit(0)            # gone: it accepts nothing, and never answers
    waiting = gevent.spawn(supervisor.wait_stopped_accepting, [older])
    first.stopped_accepting.set()
    gevent.sleep(0.2)
    assert not waiting.dead         # the second may still take a connection
    second.stopped_accepting.set()
    waiting.join(timeout=1)
    assert waiting.dead


def test_a_worker_that_never_answers_holds_the_wait_for_the_timeout_only():
    supervisor, _stats, _launcher = supervisor_with(concurrency=1)
    older = started(supervisor)
    supervisor.drain(older, ["l"], 0.0, False, 10**9)
    waiting = gevent.spawn(supervisor.wait_stopped_accepting, [older], 0.2)
    waiting.join(timeout=2)
    assert waiting.dead
