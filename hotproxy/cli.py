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
from .process.validate import read_config

log = logging.getLogger("hotproxy")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hotproxy", description="An Envoy-configured HTTP/1.1 and TCP proxy on gevent.")
    parser.add_argument("-c", "--config-path", required=True, metavar="PATH",
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
    parser.add_argument("--max-draining-generations", type=int, default=8, metavar="N",
                        help="more draining generations than this stops the oldest (default: 8)")
    parser.add_argument("-l", "--log-level", choices=LEVELS, default="info",
                        help="log level (default: info)")
    parser.add_argument("--log-path", metavar="PATH", help="write logs to this file, not stderr")
    parser.add_argument("--pid-file", metavar="PATH", help="write the arbiter's PID here")
    parser.add_argument("--version", action="version", version=f"hotproxy {__version__}")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_path)
    try:
        read_config(args.config_path)
    except ConfigError as error:
        print(f"hotproxy: invalid configuration '{args.config_path}':\n{error}", file=sys.stderr)
        return 1
    if args.mode == "validate":
        print(f"configuration '{args.config_path}' OK")
        return 0
    from .process.arbiter import Arbiter
    return Arbiter(args).run()
