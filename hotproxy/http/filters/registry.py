"""The filter factories of a connection manager's ``http_filters``: each filter's config names
its runtime module here (``runtime``), whose ``factory(config, context)`` makes it."""
from __future__ import annotations

import importlib

from ...config.listener import HealthCheck
from .health_check import HealthCheckFactory


def filter_factories(config, context):
    """(factory, disabled) for every HTTP filter but the router, in order."""
    factories = []
    for entry in config.http_filters:
        if entry.config is None:
            continue                    # the router: the terminal, not a filter of the chain
        if isinstance(entry.config, HealthCheck):
            factory = HealthCheckFactory(entry.name, entry.config, context.server, context.stat_prefix)
        else:
            module = importlib.import_module(f"{__package__}.{entry.config.runtime}")
            factory = module.factory(entry.config, context)
            factory.name = entry.name
        factories.append((factory, entry.disabled))
    return tuple(factories)
