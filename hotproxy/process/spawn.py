"""How the arbiter starts a child: never a bare fork of the arbiter, whose hub and greenlets
must not be copied. A worker is forked by the zygote (process/zygote.py: a fresh interpreter that
has imported the worker's code) and becomes the arbiter's child; when the zygote cannot serve, and
for the flusher, fork+exec of a fresh interpreter (``python -m hotproxy.process.worker``,
``python -m hotproxy.process.flusher``). Listening sockets, the config memfd and the channel reach
the child as inherited descriptors, with the numbers its argv names. When a child is started,
and what happens when it dies, is process/supervisor.py's.
"""
from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
import time

import gevent
import prctl
from gevent.event import AsyncResult, Event

from .channel import MAX_FDS, Channel, ChannelClosed, socketpair

log = logging.getLogger(__name__)

WORKER_MODULE = "hotproxy.process.worker"
#: a fork by the zygote takes milliseconds; past this the worker is started by fork+exec
ZYGOTE_REPLY_TIMEOUT_S = 10.0
#: a zygote just started imports the worker's code (about half a second of CPU) while the workers
#: that asked for it wait, rather than each importing as much by fork+exec; past this, they do
ZYGOTE_READY_TIMEOUT_S = 10.0


def spawn_worker(child, listen_sockets, on_message, log_options, access_log_fd, extra_argv=(), extra_fds=(),
                 zygote=None):
    """Start ``child``'s worker: forked by ``zygote`` when it can, else fork+exec of a fresh
    interpreter. Its descriptors: the channel, the config memfd, the access-log socket, one
    listening socket per listener name, and ``extra_fds`` (the shared connection counts, named in
    ``extra_argv``)."""
    generation = child.generation
    parent_end, child_end = socketpair()
    # a listener drained through the admin interface has its socket closed (fileno -1)
    listen_fds = {name: sock.fileno() for name, sock in listen_sockets.items() if sock.fileno() >= 0}
    args = ["--config-fd", str(generation.config_fd), "--channel-fd", str(child_end.fileno()),
            "--arbiter-pid", str(os.getpid()), "--title", child.title,
            "--access-log-fd", str(access_log_fd), *log_options.argv()]
    for name, fd in listen_fds.items():
        args += ["--listen-fd", f"{name}={fd}"]
    args += extra_argv
    pass_fds = [child_end.fileno(), generation.config_fd, access_log_fd, *listen_fds.values(), *extra_fds]
    try:
        child.process = zygote and zygote.fork(args, pass_fds)
        if child.process is None:
            child.process = subprocess.Popen([sys.executable, "-m", WORKER_MODULE, *args], pass_fds=pass_fds,
                                             close_fds=True)
    finally:
        child_end.close()
    child.channel = Channel(parent_end)
    child.spawns += 1
    child.ready.clear()
    child.started_at = child.last_heartbeat = time.monotonic()
    child.reader = gevent.spawn(read_channel, child, on_message)
    log.info("started %s (pid %d%s)", child.title, child.pid,
             ", forked by the zygote" if isinstance(child.process, ForkedProcess) else "")


def spawn_flusher(sink_fd, log_options, flush_interval_ms, flush_min_kb):
    """The access-log flusher process, reading from the receiving end of the access-log socket
    (--file-flush-interval-msec, --file-flush-min-size-kb)."""
    argv = [sys.executable, "-m", "hotproxy.process.flusher", "--sink-fd", str(sink_fd),
            "--arbiter-pid", str(os.getpid()), "--flush-interval-ms", str(flush_interval_ms),
            "--flush-min-kb", str(flush_min_kb), *log_options.argv()]
    process = subprocess.Popen(argv, pass_fds=[sink_fd], close_fds=True)
    log.info("started hotproxy: flusher (pid %d)", process.pid)
    return process


def read_channel(child, on_message):
    """Hand every message on ``child.channel`` to ``on_message(child, message, fds)`` until it
    closes."""
    channel = child.channel
    while True:
        try:
            message, fds = channel.recv()
        except (ChannelClosed, OSError):
            return
        on_message(child, message, fds)


class Zygote:
    """The arbiter's end of the zygote (process/zygote.py), an auxiliary child started on demand:
    ``spawn`` and ``on_message`` go in its AuxiliarySpec; ``fork`` finds it not running (never
    started, or exited: the supervisor does not restart it) and has ``start()`` start it. The
    zygote says ``{"ready": true}`` once it has imported the worker's code, then answers requests
    in order, one ``{"pid": N}`` each. A worker that asks while it imports waits for it, up to
    ZYGOTE_READY_TIMEOUT_S after it started; a zygote that dies or takes longer leaves its
    workers to fork+exec. So a zygote that cannot import the code on disk (an upgrade installed
    halfway) is tried again at the next reload, not in a loop."""

    def __init__(self, start, auxiliary):
        """``start()`` starts it; ``auxiliary()`` is the supervisor's record of it."""
        self._ready = Event()                   # set once it said it has imported
        self._ready_by = 0.0                    # monotonic: no waiting for it past this
        self._start, self._auxiliary = start, auxiliary
        self._waiting = collections.deque()     # an AsyncResult per request sent, oldest first

    def spawn(self):
        # the workers it forks are reparented to this process when their middle parent exits
        prctl.set_child_subreaper(True)
        parent_end, child_end = socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "hotproxy.process.zygote", "--channel-fd", str(child_end.fileno()),
                 "--arbiter-pid", str(os.getpid())], pass_fds=[child_end.fileno()], close_fds=True)
        except OSError:
            parent_end.close()
            raise
        finally:
            child_end.close()
        log.info("started hotproxy: zygote (pid %d)", process.pid)
        self._started()
        return process, Channel(parent_end)

    def _started(self):
        """A new zygote imports: not ready until it says so, and waited for until ZYGOTE_READY_TIMEOUT_S."""
        self._ready.clear()
        self._ready_by = time.monotonic() + ZYGOTE_READY_TIMEOUT_S
        for waiting in self._waiting:
            waiting.set(0)      # the zygote they asked is gone
        self._waiting.clear()

    def on_message(self, auxiliary, message, fds):
        if message.get("ready"):
            self._ready.set()
            log.info("the zygote is ready (pid %d): workers start as its forks", auxiliary.pid)
        elif self._waiting:
            self._waiting.popleft().set(message.get("pid", 0))

    def fork(self, args, pass_fds):
        """The worker the zygote forked with ``args`` (the worker's command line) and
        ``pass_fds``, as a ForkedProcess; None when the zygote cannot serve now."""
        if len(pass_fds) > MAX_FDS:
            return None
        auxiliary = self._auxiliary()
        if not auxiliary.alive():
            self._ready.clear()
            try:
                self._start()
            except OSError as error:
                log.warning("the zygote could not be started: %s", error)
                return None
        if not self._ready.is_set() and not self._wait_ready(auxiliary):
            return None
        waiting = AsyncResult()
        self._waiting.append(waiting)
        try:
            auxiliary.channel.send({"argv": list(args), "targets": list(pass_fds)}, fds=pass_fds)
            pid = waiting.get(timeout=ZYGOTE_REPLY_TIMEOUT_S)
        except (OSError, ChannelClosed, gevent.Timeout) as error:
            log.warning("the zygote did not fork a worker (%s): starting it by fork+exec", error or "timeout")
            waiting.rawlink(_kill_late_worker)
            return None
        return ForkedProcess(pid) if pid else None

    def _wait_ready(self, auxiliary):
        """Whether the zygote, importing, became ready in time (False at once once its time is
        up: the other workers of the reload do not wait again)."""
        while not self._ready.wait(0.05):
            if not auxiliary.alive() or time.monotonic() >= self._ready_by:
                log.warning("the zygote is not ready: starting the worker by fork+exec")
                return False
        return True


def _kill_late_worker(waiting):
    """A worker forked after its request was given up has no record in the arbiter: end it."""
    pid = waiting.value
    if pid:
        process = ForkedProcess(pid)
        process.kill()
        gevent.spawn(process.wait_cooperatively)


class ForkedProcess:
    """A worker forked by the zygote, now the arbiter's child (it is a child subreaper), behind
    the part of Popen's interface the supervisor uses."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:   # not ours to reap (never reparented): gone to us
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        """As Popen.wait: blocks the process, as it does."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(0.005)
        return self.returncode

    def wait_cooperatively(self):
        while self.poll() is None:
            gevent.sleep(0.1)

    def send_signal(self, signum):
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)
