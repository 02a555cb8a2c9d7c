"""The arbiter's end of the zygote (spawn.Zygote) while the zygote is importing: a worker asked
for then waits for it (one import, not one per worker by fork+exec), and gives up, so that the
worker starts by fork+exec, when it dies or its time is up. Fakes for the process and channel."""
import gevent

from hotproxy.process import spawn
from hotproxy.process.spawn import ForkedProcess, Zygote


class Auxiliary:
    pid = 4241

    def __init__(self):
        self.running = False
        self.channel = Channel()

    def alive(self):
        return self.running


class Channel:
    def __init__(self):
        self.sent = []

    def send(self, message, fds=()):
        self.sent.append(message)


def zygote_with(auxiliary):
    """A Zygote whose start (the supervisor's, then ``Zygote.spawn``) runs no process."""
    def start():
        auxiliary.running = True
        zygote._started()
    zygote = Zygote(start, lambda: auxiliary)
    return zygote


def answer_requests(zygote, auxiliary, pid=4242):
    """The zygote's replies: a pid for each request sent."""
    def run():
        answered = 0
        while True:
            while answered < len(auxiliary.channel.sent):
                answered += 1
                zygote.on_message(auxiliary, {"pid": pid}, [])
            gevent.sleep(0.01)
    return gevent.spawn(run)


def test_a_worker_asked_for_while_the_zygote_starts_waits_for_it_and_is_forked():
    auxiliary = Auxiliary()
    zygote = zygote_with(auxiliary)
    answering = answer_requests(zygote, auxiliary)
    try:
        asking = gevent.spawn(zygote.fork, ["worker"], [])
        gevent.sleep(0.2)
        assert auxiliary.running and not asking.dead and auxiliary.channel.sent == []   # importing
        zygote.on_message(auxiliary, {"ready": True}, [])
        forked = asking.get(timeout=2)
        assert isinstance(forked, ForkedProcess) and forked.pid == 4242
    finally:
        answering.kill()


def test_a_zygote_that_dies_importing_leaves_the_worker_to_fork_exec_at_once():
    auxiliary = Auxiliary()
    zygote = zygote_with(auxiliary)
    asking = gevent.spawn(zygote.fork, ["worker"], [])
    gevent.sleep(0.1)
    auxiliary.running = False           # it could not import the code on disk
    assert asking.get(timeout=1) is None


def test_past_its_time_the_workers_of_the_reload_stop_waiting(monkeypatch):
    monkeypatch.setattr(spawn, "ZYGOTE_READY_TIMEOUT_S", 0.2)
    auxiliary = Auxiliary()
    zygote = zygote_with(auxiliary)
    started = spawn.time.monotonic()
    assert zygote.fork(["worker 0"], []) is None
    assert zygote.fork(["worker 1"], []) is None        # no second wait
    assert spawn.time.monotonic() - started < 0.6
