"""Load and fully check a config: parse it, then compile what the data plane compiles (route
tables), so that ``--mode validate``, startup and every reload reject exactly the same configs."""
from __future__ import annotations

from ..config import parse_text
from ..config.listener import HttpConnectionManager
from ..errors import ConfigError
from ..http.filters.health_check import HealthCheckFilter
from ..http.router.route_table import RouteTable


def read_config(path):
    """(text, Bootstrap) of the config at ``path``; raises ConfigError."""
    try:
        with open(path, encoding="utf-8") as config:
            text = config.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([("", f"cannot read '{path}': {getattr(exc, 'strerror', None) or exc}")]) from None
    return text, check_text(text)


def check_text(text):
    bootstrap = parse_text(text)
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
                if network_filter.health_check is not None:
                    try:
                        HealthCheckFilter(network_filter.health_check)
                    except ConfigError as error:
                        hi = network_filter.http_filters.index("envoy.filters.http.health_check")
                        prefix = (f"static_resources.listeners[{li}].filter_chains[{ci}]"
                                  f".filters[{fi}].typed_config.http_filters[{hi}].typed_config.")
                        problems += [(prefix + path, reason) for path, reason in error.problems]
    if problems:
        raise ConfigError(problems)
    return bootstrap
