"""``hotproxy``: the command line, with Envoy's flag names and defaults where Envoy has the flag.

``hotproxy -c envoy.yaml`` starts the arbiter and its workers; ``hotproxy --mode validate -c
envoy.yaml`` checks the config and exits 0 (printing OK) or 1 (printing every problem with its
field path).
"""
from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .errors import ConfigError
from .process.logs import LEVELS, setup_logging
from .process.hotrestart.version import VERSION as HOT_RESTART_VERSION
from .process.validate import read_config

log = logging.getLogger("hotproxy")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hotproxy", description="An Envoy-configured HTTP/1.1 and TCP proxy on gevent.")
    parser.add_argument("-c", "--config-path", metavar="PATH",
                        help="Envoy v3 bootstrap configuration, YAML or JSON")
    parser.add_argument("--mode", choices=("serve", "validate"), default="serve",
                        help="serve (default) or validate the configuration and exit")
    parser.add_argument("--concurrency", type=int, default=0, metavar="N",
                        help="worker processes (default: one per core)")
    parser.add_argument("--drain-time-s", type=float, default=600, metavar="S",
                        help="after a reload, connections that cannot move to the new generation "
                             "(their listener is gone from the new config) are closed within this "
                             "time (default: 600)")
    parser.add_argument("--drain-strategy", choices=("gradual", "immediate"), default="gradual",
                        help="gradual (default): those connections close at times spread over the "
                             "drain time; immediate: all at once")
    parser.add_argument("--parent-shutdown-time-s", type=float, default=900, metavar="S",
                        help="a draining generation is stopped this long after the reload, "
                             "whatever it still serves (default: 900)")
    parser.add_argument("--restart-epoch", type=int, default=0, metavar="E",
                        help="hot restart: epoch 0 binds its listeners; epoch E>0 takes them, its "
                             "stats and its admin port over from the running epoch E-1 of the same "
                             "--base-id, then tells it to drain (default: 0)")
    parser.add_argument("--base-id", type=int, default=0, metavar="B",
                        help="separates hotproxy instances on one host: epochs meet at the abstract "
                             "socket @hotproxy.B.E (default: 0)")
    parser.add_argument("--hot-restart-version", action="store_true",
                        help="print the hot restart protocol version and exit")
    parser.add_argument("--max-draining-generations", type=int, default=8, metavar="N",
                        help="more draining generations than this stops the oldest (default: 8)")
    parser.add_argument("-l", "--log-level", choices=LEVELS, default="info",
                        help="log level (default: info)")
    parser.add_argument("--log-path", metavar="PATH", help="write logs to this file, not stderr")
    parser.add_argument("--pid-file", metavar="PATH", help="write the arbiter's PID here")
    parser.add_argument("--version", action="version", version=f"hotproxy {__version__}")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.hot_restart_version:
        print(HOT_RESTART_VERSION)
        return 0
    if not args.config_path:
        parser.error("the following arguments are required: -c/--config-path")
    args.argv_without_epoch = _without_epoch(argv)
    setup_logging(args.log_level, args.log_path)
    try:
        read_config(args.config_path)
    except ConfigError as error:
        print(f"hotproxy: invalid configuration '{args.config_path}':\n{error}", file=sys.stderr)
        return 1
    if args.mode == "validate":
        print(f"configuration '{args.config_path}' OK")
        print(f"hot restart version: {HOT_RESTART_VERSION}")
        return 0
    from .process.arbiter import Arbiter
    return Arbiter(args).run()


def _without_epoch(argv):
    """The command line less --restart-epoch and --base-id, for a successor to add its own."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--restart-epoch", "--base-id"):
            skip = True
        elif not arg.startswith(("--restart-epoch=", "--base-id=")):
            out.append(arg)
    return out
