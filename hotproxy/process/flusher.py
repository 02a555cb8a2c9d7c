"""The flusher process: receives access-log batches from the workers and writes the files.

Started by the arbiter as ``python -m hotproxy.process.flusher --sink-fd FD``: FD is the receiving
end of the datagram socket every worker sends its batches to. The arbiter keeps its own copy, so
batches sent while the flusher restarts wait in the socket. A file's buffer is written every
``--flush-interval-ms`` and as soon as it holds ``--flush-min-kb`` (Envoy's flush thread, set by
``--file-flush-interval-msec`` and ``--file-flush-min-size-kb``). SIGUSR1 reopens the files
(logrotate); SIGTERM flushes and exits.
"""
from __future__ import annotations

import argparse
import signal
import socket as _stdsocket
import sys

import gevent
from gevent import socket
from gevent.event import Event

from ..accesslog.batch import decode_batch
from ..accesslog.writer import AccessLogWriter
from .logs import LogOptions, setup_logging
from .procutil import die_with_parent, ignore_operator_signals, set_title


def serve(sock, writer, flush_interval_s):
    stopping = Event()
    gevent.signal_handler(signal.SIGUSR1, writer.reopen)
    gevent.signal_handler(signal.SIGTERM, stopping.set)
    gevent.signal_handler(signal.SIGINT, stopping.set)

    def receive():
        while True:
            for destination, data in decode_batch(sock.recv(1 << 20)):
                writer.add(destination, data)
            if not flush_interval_s:
                writer.flush()      # an interval of 0: every batch as it comes

    def tick():
        while True:
            gevent.sleep(flush_interval_s)
            writer.flush()

    greenlets = [gevent.spawn(receive)]
    if flush_interval_s:
        greenlets.append(gevent.spawn(tick))
    stopping.wait()
    sock.setblocking(False)
    try:  # what already arrived is written before exiting
        while True:
            for destination, data in decode_batch(sock._sock.recv(1 << 20)):
                writer.add(destination, data)
    except (BlockingIOError, OSError):
        pass
    gevent.killall(greenlets)
    writer.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hotproxy.process.flusher")
    parser.add_argument("--sink-fd", type=int, required=True)
    parser.add_argument("--arbiter-pid", type=int, required=True)
    parser.add_argument("--flush-interval-ms", type=int, default=1000)
    parser.add_argument("--flush-min-kb", type=int, default=64)
    LogOptions.add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    die_with_parent(args.arbiter_pid)
    ignore_operator_signals(keep=(signal.SIGUSR1,))     # its own: reopen the files
    set_title("hotproxy: flusher")
    setup_logging(LogOptions.from_args(args))
    sock = socket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_DGRAM, fileno=args.sink_fd)
    serve(sock, AccessLogWriter(flush_bytes=args.flush_min_kb * 1024), args.flush_interval_ms / 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
