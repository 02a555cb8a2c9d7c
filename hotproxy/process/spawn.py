"""How the arbiter starts a child: fork+exec of a fresh interpreter (``python -m
hotproxy.process.worker``, ``python -m hotproxy.process.flusher``), never a bare fork of the
arbiter, whose hub and greenlets must not be copied; exec also means a respawn runs the code on
disk now. Listening sockets, the config memfd and the channel reach the child as inherited
descriptors. When a child is started, and what happens when it dies, is process/supervisor.py's.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import gevent

from .channel import Channel, ChannelClosed, socketpair

log = logging.getLogger(__name__)


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
    child.reader = gevent.spawn(read_channel, child, on_message)
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
