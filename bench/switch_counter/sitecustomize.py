"""Counts greenlet switches in hotproxy's worker processes, for bench/count_per_request.py.

Python imports ``sitecustomize`` at start-up from the first directory on its path that has one;
count_per_request.py puts this directory first on PYTHONPATH and names a directory in
HOTPROXY_BENCH_SWITCH_DIR. Every process of that hotproxy inherits both (the arbiter starts its
workers as fresh interpreters with its environment); only the workers count. Each keeps its count
in an 8-byte file ``<dir>/<pid>``, mapped in memory and updated on every switch, so the count can
be read at any moment from outside without signalling the worker.
"""
import os
import sys

DIRECTORY = os.environ.get("HOTPROXY_BENCH_SWITCH_DIR")
WORKER_MODULE = "hotproxy.process.worker"


def _install(directory):
    import mmap
    import struct

    import greenlet

    path = os.path.join(directory, str(os.getpid()))
    with open(path, "wb") as f:
        f.write(bytes(8))
    fd = os.open(path, os.O_RDWR)
    counter = mmap.mmap(fd, 8)
    os.close(fd)
    pack_into = struct.Struct("<Q").pack_into
    count = [0]

    def trace(event, _args):
        if event in ("switch", "throw"):
            count[0] += 1
            pack_into(counter, 0, count[0])

    greenlet.settrace(trace)


if DIRECTORY and WORKER_MODULE in getattr(sys, "orig_argv", ()):
    _install(DIRECTORY)
