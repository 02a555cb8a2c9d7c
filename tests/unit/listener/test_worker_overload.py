"""The overload manager as a worker applies it (listener/overload.py): Envoy's memory classes and
reset choice (resetAccountsGivenPressure), the action states a worker acts on, and the checks a
listener makes on each new connection."""
from types import SimpleNamespace

import pytest

from hotproxy.config.overload import OverloadAction, OverloadManager, ResourceMonitor, Trigger
from hotproxy.listener.overload import (MAX_RESETS, WorkerOverload, bernoulli, memory_class,
                                        streams_to_reset)
from hotproxy.stats.schema import ListenerStats

HEAP = "envoy.resource_monitors.fixed_heap"
CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections"
ACTIONS = "envoy.overload_actions."


def test_bernoulli_never_at_zero_always_at_one():
    assert not any(bernoulli(0.0) for _ in range(1000))
    assert all(bernoulli(1.0) for _ in range(1000))
    assert 300 < sum(bernoulli(0.5) for _ in range(1000)) < 700


@pytest.mark.parametrize("balance, cls", [
    (0, None), (511, None),   # Envoy's code tracks from 2**(power-1), one power below its docs
    (512, 0), (1023, 0), (1024, 1), (2047, 1),
    (65535, 6), (65536, 7), (1 << 40, 7),
])
def test_memory_classes_as_envoys_code_computes_them(balance, cls):
    assert memory_class(balance, 10) == cls


def test_the_top_classes_go_first_and_their_count_grows_with_the_state():
    streams = {name: (balance, name) for name, balance in
               [("tiny", 100), ("c0", 600), ("c3", 5000), ("c5", 20000), ("c7", 70000), ("c7b", 1 << 20)]}
    candidates = list(streams.values())
    assert streams_to_reset(candidates, 0.1, 10) == ["c7b", "c7"]              # floor(0.8)+1 = 1 class
    assert streams_to_reset(candidates, 0.5, 10) == ["c7b", "c7", "c5", "c3"]  # classes 7 to 3
    assert streams_to_reset(candidates, 1.0, 10) == ["c7b", "c7", "c5", "c3", "c0"]


def test_at_most_fifty_streams_are_reset_at_once():
    candidates = [(1 << 20, n) for n in range(80)]
    assert len(streams_to_reset(candidates, 1.0, 10)) == MAX_RESETS


def overload_config(*names, connections=None, power=None):
    monitors = [ResourceMonitor(HEAP, 1000)]
    if connections is not None:
        monitors.append(ResourceMonitor(CONNECTIONS, connections))
    actions = tuple(OverloadAction(ACTIONS + name, (Trigger(HEAP, threshold=0.9),)) for name in names)
    return OverloadManager(resource_monitors=tuple(monitors), actions=actions,
                           minimum_account_to_track_power_of_two=power)


class FakeListener:
    def __init__(self):
        self.calls = []

    def pause_accepting(self):
        self.calls.append("pause")

    def resume_accepting(self):
        self.calls.append("resume")


def test_stop_accepting_connections_pauses_only_when_saturated():
    overload = WorkerOverload(overload_config("stop_accepting_connections"))
    listener = FakeListener()
    overload.listeners.append(listener)
    stop = ACTIONS + "stop_accepting_connections"
    for state in (0.5, 1.0, 1.0, 0.99, 0.0):
        overload.apply({stop: state})
    assert listener.calls == ["pause", "resume"]


def test_http_actions_and_the_reject_fraction_follow_the_states():
    overload = WorkerOverload(overload_config("stop_accepting_requests", "disable_http_keepalive"))
    assert overload.affects_http and not overload.rejects_connections
    overload.apply({ACTIONS + "stop_accepting_requests": 1.0, ACTIONS + "disable_http_keepalive": 0.0})
    assert overload.stops_request() and not overload.disables_keepalive()
    overload.apply({})
    assert not overload.stops_request()


class FakeConnection:
    def __init__(self, buffered):
        self.stream = SimpleNamespace(buffered=buffered)
        self.resets = 0

    def reset_for_overload(self):
        self.resets += 1


def test_streams_reset_on_each_change_to_a_non_zero_state():
    overload = WorkerOverload(overload_config("reset_high_memory_stream", power=10))
    big, small, idle = FakeConnection(1 << 20), FakeConnection(600), FakeConnection(0)
    idle.stream = None
    overload.http_managers.append(SimpleNamespace(connections={big, small, idle}))
    reset = ACTIONS + "reset_high_memory_stream"
    overload.apply({reset: 0.1})    # class 7 only
    overload.apply({reset: 0.1})    # no change: nothing more
    overload.apply({reset: 0.0})    # inactive: nothing (Envoy would reset class 7 again)
    overload.apply({reset: 1.0})    # every class
    assert (big.resets, small.resets) == (2, 1)
    assert overload.reset_stats.count == 3


class FakeCounter:
    def __init__(self, free):
        self.free = free
        self.held = 0

    def try_acquire(self):
        if self.free:
            self.free -= 1
            self.held += 1
            return True
        return False

    def add(self):
        self.held += 1

    def release(self):
        self.held -= 1
        self.free += 1


def test_admission_checks_the_global_limit_then_the_reject_fraction():
    counter = FakeCounter(free=1)
    counts = SimpleNamespace(counter=lambda key, limit: counter)
    overload = WorkerOverload(overload_config("reject_incoming_connections", connections=1), counts)
    stats = ListenerStats()
    admission = overload.admission(stats)
    overload.apply({ACTIONS + "reject_incoming_connections": 1.0})
    assert not admission.admit()
    assert (stats.downstream_cx_overload_reject, counter.held) == (1, 0)  # its place given back
    overload.apply({})
    assert admission.admit() and counter.held == 1
    assert not admission.admit()
    assert (stats.downstream_global_cx_overflow, overload.global_stats.failed_updates) == (1, 1)
    assert admission.admit(adopted=True) and counter.held == 2  # moved from an older generation
    admission.release()
    assert counter.held == 1


def test_a_listener_that_ignores_the_global_limit_is_neither_limited_nor_counted():
    counter = FakeCounter(free=0)
    overload = WorkerOverload(overload_config("stop_accepting_requests", connections=1),
                              SimpleNamespace(counter=lambda key, limit: counter))
    assert overload.admission(ListenerStats(), counts_globally=False) is None
    assert not overload.admission(ListenerStats()).admit()


def test_no_admission_when_nothing_checks_connections():
    assert WorkerOverload(overload_config("stop_accepting_requests")).admission(ListenerStats()) is None


def test_the_runtime_key_limits_connections_without_the_monitor():
    counter = FakeCounter(free=0)
    seen = []
    counts = SimpleNamespace(runtime_limited_counter=lambda key, read_limit: seen.append(read_limit) or counter)
    overload = WorkerOverload(OverloadManager(), counts, runtime_limit=True)
    stats = ListenerStats()
    assert not overload.admission(stats).admit()
    assert stats.downstream_global_cx_overflow == 1 and overload.global_stats is None
    assert seen[0]() is None      # the runtime has no value for the key here
