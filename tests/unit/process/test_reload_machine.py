"""The reload state machine (process/reload.py) without processes: its phases, what a failure at
each one leaves, and how requests from one or two config sources coalesce."""
import gevent
import pytest
from gevent.event import Event

from hotproxy.config.bootstrap import Bootstrap
from hotproxy.errors import ConfigError
from hotproxy.process.generation import READY, STARTING
from hotproxy.process.reload import (BIND, DRAIN, IDLE, PROBE, START, VALIDATE, WAIT_READY, ReloadQueue,
                                     Reloader, ServingConfig)
from hotproxy.stats.store import StatsStore


# --- ReloadQueue: sans-IO coalescing

def test_a_request_runs_at_once_when_none_runs():
    queue = ReloadQueue()
    assert queue.request("file") is True
    assert queue.running == "file" and queue.queued is None


def test_requests_during_a_run_coalesce_into_one_queued_the_newest_winning():
    queue = ReloadQueue()
    queue.request("file")
    assert queue.request("file") is False
    assert queue.request("xds") is False
    assert (queue.running, queue.queued) == ("file", "xds")
    assert queue.finished() == "xds"
    assert (queue.running, queue.queued) == ("xds", None)
    assert queue.finished() is None
    assert queue.request("file") is True


def test_clear_forgets_the_running_and_the_queued():
    queue = ReloadQueue()
    queue.request("a")
    queue.request("b")
    queue.clear()
    assert queue.running is None and queue.queued is None


# --- Reloader over fake steps

class Generation:
    def __init__(self, number):
        self.number = number
        self.state = STARTING
        self.start_failure = None


class Steps:
    """Records each step with the phase the machine is in; ``fail`` names the step to fail;
    ``gate`` holds wait_ready; ``on_drain`` runs as a reload completes; ``probe_failure`` is
    what the probe answers."""

    def __init__(self, fail=None):
        self.fail = fail
        self.calls = []
        self.stopping = False
        self.gate = None
        self.on_drain = None
        self.phase = lambda: None
        self.numbers = iter(range(2, 100))
        self.probe_failure = None

    def _record(self, name, arg):
        self.calls.append((name, arg, self.phase()))

    def bind(self, bootstrap):
        self._record("bind", bootstrap)
        if self.fail == "bind":
            raise OSError(98, "listener 'l': cannot bind 127.0.0.1:1: Address already in use")
        return {"l": "socket"}

    def start(self, bootstrap, text, sockets):
        self._record("start", bootstrap)
        if self.fail == "start":
            raise OSError(7, "Argument list too long")
        return Generation(next(self.numbers))

    def wait_ready(self, generation):
        self._record("wait_ready", generation.number)
        if self.gate is not None:
            self.gate.wait()
        return self.fail != "ready"

    def probe(self, generation):
        self._record("probe", generation.number)
        return self.probe_failure

    def abandon(self, generation):
        self._record("abandon", generation.number)

    def release_unused(self):
        self._record("release_unused", None)

    def drain_older(self, generation):
        self._record("drain_older", generation.number)
        assert generation.state == READY
        if self.on_drain is not None:
            self.on_drain()


class Notifier:
    def __init__(self):
        self.sent = []

    def reloading(self, status):
        self.sent.append("RELOADING")


BOOTSTRAP, XDS_BOOTSTRAP, SERVING = Bootstrap(node_id="file"), Bootstrap(node_id="xds"), Bootstrap(node_id="old")


def source_of(text, bootstrap=BOOTSTRAP):
    def read():
        read.calls.append(text)
        return text, bootstrap
    read.calls = []
    return read


def invalid_source():
    raise ConfigError([("static_resources", "bad")])


def reloader_with(steps, source=None):
    stats, config, done = StatsStore(), ServingConfig(), []
    reloader = Reloader(source or source_of("file text"), steps, stats, config, Notifier(), done.append)
    steps.phase = lambda: reloader.phase
    return reloader, stats, config, done


def settle(reloader):
    gevent.sleep(0)
    while reloader.phase != IDLE:
        gevent.sleep(0.001)


def test_a_successful_reload_goes_through_every_phase_and_serves_the_new_config():
    steps, validated = Steps(), []

    def source():
        validated.append(reloader.phase)
        return "file text", BOOTSTRAP
    reloader, stats, config, done = reloader_with(steps, source)
    reloader.request()
    settle(reloader)
    assert validated == [VALIDATE]
    assert [(name, phase) for name, _arg, phase in steps.calls] == [
        ("bind", BIND), ("start", START), ("wait_ready", WAIT_READY), ("probe", PROBE), ("drain_older", DRAIN)]
    assert stats.counters["server.reload_total"] == 1 and stats.counters["server.reload_failed"] == 0
    assert config.bootstrap == BOOTSTRAP and config.text == "file text"
    assert config.last_reload["result"] == "ok" and config.last_reload["generation"] == 2
    assert [generation.number for generation in done] == [2]
    assert reloader.notifier.sent == ["RELOADING"]


@pytest.mark.parametrize("fail, reason, steps_run", [
    ("validate", "invalid configuration", []),
    ("bind", "invalid configuration: [Errno 98] listener 'l'", ["bind"]),
    ("ready", "generation 2 did not become ready", ["bind", "start", "wait_ready", "abandon"]),
])
def test_a_failure_at_any_phase_leaves_the_serving_config_as_it_was(fail, reason, steps_run):
    steps = Steps(fail=fail)
    reloader, stats, config, done = reloader_with(steps, invalid_source if fail == "validate" else None)
    config.update(SERVING, "serving text")
    reloader.request()
    settle(reloader)
    assert [name for name, _arg, _phase in steps.calls] == steps_run
    assert config.bootstrap == SERVING and config.text == "serving text"
    assert stats.counters["server.reload_failed"] == 1 and stats.counters["server.reload_total"] == 0
    assert config.last_reload["result"] == "failed" and config.last_reload["reason"].startswith(reason)
    assert done == [None]


def test_stopping_while_the_generation_starts_abandons_it():
    steps = Steps()
    steps.gate = Event()
    reloader, stats, config, _done = reloader_with(steps)
    reloader.request()
    gevent.sleep(0)
    assert reloader.phase == WAIT_READY
    steps.stopping = True
    steps.gate.set()
    settle(reloader)
    assert ("abandon", 2, WAIT_READY) in steps.calls and config.bootstrap is None
    assert stats.counters["server.reload_failed"] == 1


def test_a_burst_of_requests_runs_at_most_twice_and_the_newest_source_wins():
    steps = Steps()
    steps.gate = Event()
    file_source, xds_source = source_of("file text"), source_of("xds text", XDS_BOOTSTRAP)
    reloader, stats, config, _done = reloader_with(steps, file_source)
    reloader.request()
    gevent.sleep(0)
    reloader.request()               # SIGHUP, SIGHUP, then an xDS update: one queued, the newest
    reloader.request()
    reloader.request(xds_source)
    steps.gate.set()
    settle(reloader)
    assert file_source.calls == ["file text"] and xds_source.calls == ["xds text"]
    assert stats.counters["server.reload_total"] == 2
    assert config.bootstrap == XDS_BOOTSTRAP and config.text == "xds text"


def test_the_queued_reload_is_dropped_when_the_arbiter_stops_meanwhile():
    steps = Steps()
    steps.gate = Event()
    source = source_of("file text")
    reloader, stats, _config, _done = reloader_with(steps, source)
    reloader.request()
    gevent.sleep(0)
    reloader.request()
    steps.on_drain = lambda: setattr(steps, "stopping", True)
    steps.gate.set()
    settle(reloader)
    assert source.calls == ["file text"] and stats.counters["server.reload_total"] == 1
    steps.stopping, steps.on_drain = False, None
    reloader.request()               # the machine is free again
    settle(reloader)
    assert source.calls == ["file text", "file text"]


def test_workers_that_cannot_be_started_fail_the_reload_and_the_old_config_serves():
    """A worker's exec refused (E2BIG for a huge config, EMFILE, ENOMEM) is a failed reload,
    counted and logged, not a dead reload greenlet."""
    steps = Steps(fail="start")
    reloader, stats, config, done = reloader_with(steps)
    reloader.request()
    settle(reloader)
    assert stats.counters["server.reload_failed"] == 1 and stats.counters["server.reload_total"] == 0
    assert config.last_reload["result"] == "failed"
    assert "workers could not be started" in config.last_reload["reason"]
    assert done == [None] and config.bootstrap is None


def test_a_failed_probe_rolls_the_reload_back_with_its_reason_and_report():
    steps = Steps()
    steps.probe_failure = "listener 'web': GET /healthz (Host: localhost) answered 503, expected 200"
    reloader, stats, config, done = reloader_with(steps)
    config.update(SERVING, "serving text")
    reloader.request()
    settle(reloader)
    assert [name for name, _arg, _phase in steps.calls] == ["bind", "start", "wait_ready", "probe", "abandon"]
    assert config.bootstrap == SERVING and done == [None]
    assert stats.counters["server.reload_rolled_back"] == 1 and stats.counters["server.reload_failed"] == 1
    assert stats.counters["server.reload_total"] == 0
    last = config.last_reload
    assert last["result"] == "rolled_back" and last["trigger"] == "SIGHUP" and last["generation"] == 2
    assert last["reason"] == f"generation 2 failed its reload probe: {steps.probe_failure}"
    assert last["report"]["other"] == ["node_id"]


def test_every_reload_reports_what_it_changes_and_what_asked_for_it():
    steps = Steps()
    reloader, _stats, config, _done = reloader_with(steps, source_of("xds text", XDS_BOOTSTRAP))
    config.update(SERVING, "serving text")
    reloader.request(trigger="xds")
    settle(reloader)
    assert config.last_reload["trigger"] == "xds"
    assert config.last_reload["report"]["summary"] == "other: node_id"
    reloader.request(trigger="SIGHUP")
    settle(reloader)
    assert config.last_reload["report"] == {**config.last_reload["report"], "changed": False,
                                            "summary": "no change"}


def test_the_status_line_says_how_the_last_reload_went():
    from hotproxy.process.reload import status_summary
    assert status_summary({"result": "none"}) == "none"
    assert status_summary({"result": "ok", "report": {"summary": "clusters ~1"}}) == "ok (clusters ~1)"
    assert status_summary({"result": "rolled_back", "reason": "generation 3 failed its reload probe: x",
                           "report": {"summary": "routes ~1"}}) == \
        "rolled back (generation 3 failed its reload probe: x)"
