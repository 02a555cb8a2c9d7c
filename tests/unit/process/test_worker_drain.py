"""A worker told to drain says so once its listeners accept no more: the arbiter reports a reload
as serving only then, so a connection made after the report reaches the new config."""
from hotproxy.process.messages import STOPPED_ACCEPTING
from hotproxy.process.worker import Worker


class Channel:
    def __init__(self, events):
        self.events = events

    def send(self, message, fds=()):
        self.events.append(message["t"])


class Listener:
    def __init__(self, events):
        self.events = events

    def drain(self, move, drain_time, immediate):
        self.events.append(("drain", move))


def worker(events):
    self = Worker.__new__(Worker)
    self.name = "worker 0"
    self.listeners = {"a": Listener(events), "b": Listener(events)}
    self.channel = Channel(events)
    self.draining = False
    self._exit_when_empty = lambda: None
    return self


def test_it_answers_after_every_listener_stopped_accepting():
    events = []
    worker(events).drain({"a"}, 1.0, False)
    assert events == [("drain", True), ("drain", False), STOPPED_ACCEPTING]


def test_a_second_drain_is_answered_too_and_drains_nothing_again():
    events = []
    w = worker(events)
    w.drain({"a"}, 1.0, False)
    w.drain({"a"}, 1.0, False)
    assert events[3:] == [STOPPED_ACCEPTING]
