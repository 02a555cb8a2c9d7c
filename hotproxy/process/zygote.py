"""The zygote: a fresh interpreter that has imported the worker's code and forks workers from it.

A worker started by fork+exec spends about half a second of CPU importing hotproxy before it
serves. On a reload that half second is taken from the serving workers' cores, every reload. The
arbiter therefore starts this process at its first reload (``python -m hotproxy.process.zygote``):
it imports ``hotproxy.process.worker`` (and the TLS modules a worker imports only when its config
asks for TLS) and then waits on its channel. For each worker the arbiter sends the
worker's argv and descriptors; the zygote forks twice, and the grandchild becomes the worker:
- it is the arbiter's child, not the zygote's: the arbiter is a child subreaper, the middle
  process exits at once, and the grandchild waits until it has been reparented before it arms
  its parent-death signal (procutil.die_with_parent);
- its descriptors get the numbers the arbiter named in its argv, and no others stay open;
- it runs ``worker.main(argv)`` and exits with its status, never returning to the zygote's loop.

The zygote never starts a gevent hub and never loads the config, so a fork copies no greenlet, no
watcher and no operator module: a Python filter's module is imported in each worker as before.
What a fork does copy is the code the zygote imported when the arbiter started: a reload runs the
arbiter's own version of hotproxy (an upgrade goes through a hot restart, whose new arbiter starts
a new zygote). The arbiter falls back to fork+exec whenever the zygote cannot serve
(process/spawn.py).
"""
from __future__ import annotations

import argparse
import fcntl
import importlib
import os
import sys
import time
import traceback

from .channel import Channel, ChannelClosed
from .procutil import die_with_parent, exit_now, ignore_operator_signals, set_title
from .spawn import WORKER_MODULE

#: what a worker imports only once its config asks for TLS (a plain-text worker started by
#: fork+exec never maps ssl and libcrypto): imported here too, so that a forked worker with TLS
#: does not import it after each reload. The zygote's pages are shared by every fork.
TLS_MODULES = ("hotproxy.listener.tls_transport", "hotproxy.upstream.tls", "hotproxy.tls.params",
               "hotproxy.tls.certificates", "hashlib")

#: how long a new worker waits to become the arbiter's child (its middle parent exits at once)
REPARENT_TIMEOUT_S = 5.0


def serve(channel, arbiter_pid):
    """Fork a worker for each request until the arbiter closes the channel."""
    channel.send({"ready": True})
    while True:
        try:
            message, fds = channel.recv()
        except ChannelClosed:
            return
        try:
            pid = _fork_worker(channel, message["argv"], fds, message["targets"], arbiter_pid)
        finally:
            for fd in fds:
                os.close(fd)
        channel.send({"pid": pid})


def _fork_worker(channel, argv, fds, targets, arbiter_pid):
    """The worker's pid, once its middle parent has exited (so that it is the arbiter's child)."""
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(read_end)
            worker = os.fork()
            if worker == 0:
                os.close(write_end)
                _become_worker(channel, argv, fds, targets, arbiter_pid)
            os.write(write_end, str(worker).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        reported = os.read(read_end, 32)
    finally:
        os.close(read_end)
        os.waitpid(middle, 0)
    return int(reported) if reported else 0


def _become_worker(channel, argv, fds, targets, arbiter_pid):
    """In the grandchild: take the arbiter's descriptor numbers, wait to be its child, run the
    worker. Never returns."""
    code = 1
    try:
        channel.sock.detach()       # its descriptor is closed below with the zygote's others
        _install_descriptors(fds, targets)
        deadline = time.monotonic() + REPARENT_TIMEOUT_S
        while os.getppid() != arbiter_pid and time.monotonic() < deadline:
            time.sleep(0.001)
        from . import worker
        code = worker.main(argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        exit_now(code)


def _install_descriptors(fds, targets):
    """Give received descriptor ``fds[i]`` the number ``targets[i]`` and close every other one
    but stdin, stdout and stderr, as Popen's ``pass_fds`` with ``close_fds`` does."""
    floor = max((*fds, *targets, 2)) + 1
    lifted = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in fds]
    keep = {0, 1, 2, *lifted}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass            # the directory's own descriptor, closed by listdir
    for fd, target in zip(lifted, targets):
        os.dup2(fd, target)     # inheritable, as a passed descriptor is after exec
        os.close(fd)


def _resolve_hub_settings():
    """Resolve the gevent settings a worker's hub reads as it starts (the loop class; the
    formatter of error contexts, which imports pprint), without starting a hub here: a fork
    inherits them resolved, about 0.6 ms less of a worker's start after each reload."""
    import gevent
    gevent.config.loop
    gevent.config.format_context


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hotproxy.process.zygote")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--arbiter-pid", type=int, required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    die_with_parent(args.arbiter_pid)
    ignore_operator_signals()
    set_title("hotproxy: zygote")
    for module in (WORKER_MODULE, *TLS_MODULES):  # the point of this process: its children start imported
        importlib.import_module(module)
    _resolve_hub_settings()
    serve(Channel.from_fd(args.channel_fd, blocking=True), args.arbiter_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
