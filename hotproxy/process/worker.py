"""A worker: serves every listener of one config on sockets it is given.

Entry point for the arbiter: ``python -m hotproxy.process.worker -c CONFIG --listen-fd NAME=FD ...``
(each FD an inherited listening socket). ``hotproxy`` without an arbiter runs one ``Worker`` in
its own process.
"""
from __future__ import annotations

import argparse
import logging
import signal
import socket as _stdsocket
import sys

import gevent
from gevent import socket
from gevent.event import Event

from ..config import load_bootstrap
from ..errors import ConfigError
from ..listener.deadlines import Deadlines
from ..listener.manager import ActiveListener
from ..upstream.cluster_manager import ClusterManager
from .logs import setup_logging

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, bootstrap, listen_sockets):
        """``listen_sockets`` maps listener names to bound, listening stdlib sockets."""
        self.bootstrap = bootstrap
        self.cluster_manager = ClusterManager(bootstrap.clusters)
        self.deadlines = Deadlines()
        self.listeners = [
            ActiveListener(config, socket.socket(fileno=listen_sockets[config.name].detach()),
                           self.cluster_manager, self.deadlines)
            for config in bootstrap.listeners
        ]
        self._stopped = Event()

    def start(self):
        self.deadlines.start()
        self.cluster_manager.start()
        for listener in self.listeners:
            listener.start()

    def stop(self):
        for listener in self.listeners:
            listener.close()
        self.cluster_manager.stop()
        self.deadlines.stop()
        self._stopped.set()

    def run(self):
        """Start, then serve until SIGTERM or SIGINT."""
        gevent.signal_handler(signal.SIGTERM, self.stop)
        gevent.signal_handler(signal.SIGINT, self.stop)
        self.start()
        self._stopped.wait()


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m hotproxy.process.worker")
    parser.add_argument("-c", "--config-path", required=True)
    parser.add_argument("--listen-fd", action="append", default=[], metavar="NAME=FD")
    parser.add_argument("-l", "--log-level", default="info")
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.log_level)
    try:
        bootstrap = load_bootstrap(args.config_path)
    except ConfigError as error:
        log.error("invalid configuration %s:\n%s", args.config_path, error)
        return 1
    sockets = {}
    for item in args.listen_fd:
        name, _, fd = item.rpartition("=")
        sockets[name] = _stdsocket.socket(fileno=int(fd))
    Worker(bootstrap, sockets).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
