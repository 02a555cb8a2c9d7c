"""``hotproxy``: the command line, with Envoy's flag names.

``hotproxy -c envoy.yaml`` serves the config; ``hotproxy --mode validate -c envoy.yaml`` checks it
and exits 0 (printing OK) or 1 (printing every problem with its field path).
"""
from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .config import load_bootstrap
from .config.listener import HttpConnectionManager
from .errors import ConfigError
from .http.router.route_table import RouteTable
from .process.logs import LEVELS, setup_logging

log = logging.getLogger("hotproxy")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hotproxy", description="An Envoy-configured HTTP/1.1 and TCP proxy on gevent.")
    parser.add_argument("-c", "--config-path", required=True, metavar="PATH",
                        help="Envoy v3 bootstrap configuration, YAML or JSON")
    parser.add_argument("--mode", choices=("serve", "validate"), default="serve",
                        help="serve (default) or validate the configuration and exit")
    parser.add_argument("-l", "--log-level", choices=LEVELS, default="info",
                        help="log level (default: info)")
    parser.add_argument("--log-path", metavar="PATH", help="write logs to this file, not stderr")
    parser.add_argument("--version", action="version", version=f"hotproxy {__version__}")
    return parser


def check_config(path):
    """Load ``path`` and compile what the data plane compiles, so that ``validate`` and startup
    reject exactly the same configs. Raises ConfigError."""
    bootstrap = load_bootstrap(path)
    problems = []
    for li, listener in enumerate(bootstrap.listeners):
        for ci, chain in enumerate(listener.filter_chains):
            for fi, network_filter in enumerate(chain.filters):
                if not isinstance(network_filter, HttpConnectionManager):
                    continue
                try:
                    RouteTable(network_filter.route_config)
                except ConfigError as error:
                    prefix = (f"static_resources.listeners[{li}].filter_chains[{ci}]"
                              f".filters[{fi}].typed_config.route_config.")
                    problems += [(prefix + path, reason) for path, reason in error.problems]
    if problems:
        raise ConfigError(problems)
    return bootstrap


def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_path)
    try:
        bootstrap = check_config(args.config_path)
    except ConfigError as error:
        print(f"hotproxy: invalid configuration '{args.config_path}':\n{error}", file=sys.stderr)
        return 1
    if args.mode == "validate":
        print(f"configuration '{args.config_path}' OK")
        return 0
    return _serve(bootstrap)


def _serve(bootstrap):
    from .process.sockets import bind_listener
    from .process.worker import Worker

    sockets = {}
    for listener in bootstrap.listeners:
        try:
            sockets[listener.name] = bind_listener(listener.address)
        except OSError as exc:
            address = f"{listener.address.address}:{listener.address.port}"
            log.error("listener '%s': cannot bind %s: %s", listener.name, address, exc.strerror or exc)
            return 1
        log.info("listener '%s' on %s:%d", listener.name, listener.address.address,
                 sockets[listener.name].getsockname()[1])
    Worker(bootstrap, sockets).run()
    return 0
