"""Load and fully check the config the command line names: read ``-c`` and ``--config-yaml`` as
Envoy does (config/loader.py ``effective_text``), apply what Envoy's command line sets over the
bootstrap, parse, then compile what the data plane compiles (route tables), so that
``--mode validate``, startup and every reload reject exactly the same configs."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from ..config import parse_text
from ..config.parse import parse_bootstrap
from ..config.xds import ROUTES
from ..config.http_filters.python import Python
from ..config.listener import HttpConnectionManager
from ..config.loader import effective_config, text_tree
from ..config.merge import merged
from ..errors import ConfigError
from ..http.filters.health_check import HealthCheckFilter
from ..http.filters.python_loader import check as check_python_filters
from ..http.router.route_table import RouteTable

log = logging.getLogger("hotproxy.config")

UNKNOWN_FIELDS_COUNTER = "server.static_unknown_fields"


@dataclass(frozen=True)
class ConfigSource:
    """``-c``, ``--config-yaml``, ``--allow-unknown-static-fields``, and the flags Envoy applies
    over the bootstrap once loaded: ``--service-node``, ``--service-cluster``, ``--stats-tag``."""
    path: str | None
    config_yaml: str | None = None
    allow_unknown_fields: bool = False
    service_node: str = ""
    service_cluster: str = ""
    stats_tags: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.path or "--config-yaml"


class ConfigReader:
    """Reads a ConfigSource, every time the same way. Each distinct unknown field that
    ``--allow-unknown-static-fields`` lets through is logged once in the life of the process and
    counted in server.static_unknown_fields (from when ``count_into`` is given the arbiter's
    stats, including those seen before); Envoy names and counts only one per document."""

    def __init__(self, source: ConfigSource):
        self.source = source
        self.unknown_fields = []
        self._stats = None

    def count_into(self, stats) -> None:
        stats.declare(UNKNOWN_FIELDS_COUNTER)
        stats.add(UNKNOWN_FIELDS_COUNTER, len(self.unknown_fields))
        self._stats = stats

    def read(self):
        """(text, Bootstrap): the text every worker of the generation parses. Raises ConfigError."""
        source = self.source
        text, unknown, tree = effective_config(source.path, config_yaml=source.config_yaml,
                                               allow_unknown_fields=source.allow_unknown_fields)
        for path in unknown:
            if path not in self.unknown_fields:
                log.warning("unknown field ignored (--allow-unknown-static-fields): %s", path)
                self.unknown_fields.append(path)
                if self._stats is not None:
                    self._stats.add(UNKNOWN_FIELDS_COUNTER)
        given = text
        text = with_command_line(text, source)
        # the tree the file was read into, when the text is the file's: a reload reads it once
        return text, check_tree(tree) if tree is not None and text is given else check_text(text)


def with_command_line(text: str, source: ConfigSource) -> str:
    """``text`` with node.id, node.cluster and fixed stats tags from the command line, as Envoy
    sets them over the loaded bootstrap (JSON then); unchanged when the command line sets none."""
    overlay = {}
    node = {field: value for field, value in (("id", source.service_node),
                                              ("cluster", source.service_cluster)) if value}
    if node:
        overlay["node"] = node
    if source.stats_tags:
        overlay["stats_config"] = {"stats_tags": [{"tag_name": name, "fixed_value": value}
                                                  for name, value in source.stats_tags]}
    if not overlay:
        return text
    tree, problems = text_tree(text)
    if problems:
        raise ConfigError(problems)
    if not isinstance(tree, dict):
        return text     # parse_text says what is wrong with it
    _drop_stats_tags(tree, {name for name, _value in source.stats_tags})
    return json.dumps(merged(tree, overlay), indent=2, ensure_ascii=False)


def _drop_stats_tags(tree: dict, names: set) -> None:
    """The configured stats tags a --stats-tag of the same name replaces, as in Envoy."""
    for stats_config in (tree.get("stats_config"), tree.get("statsConfig")):
        if not isinstance(stats_config, dict):
            continue
        for key in ("stats_tags", "statsTags"):
            if isinstance(stats_config.get(key), list):
                stats_config[key] = [tag for tag in stats_config[key] if not isinstance(tag, dict)
                                     or tag.get("tag_name", tag.get("tagName")) not in names]


def check_text(text, sds_secrets=None):
    """``sds_secrets``: what SDS sent, parsed, by name (config/resources.py)."""
    return _compiled(parse_text(text, sds_secrets))


def check_tree(tree, sds_secrets=None):
    """``check_text`` of a config already read into a tree (the xDS process's composed one)."""
    return _compiled(parse_bootstrap(tree, sds_secrets=sds_secrets))


def check_route_table(kind, parsed):
    """What compiling an RDS RouteConfiguration finds (regexes, per-route filter configs)."""
    if kind == ROUTES:
        RouteTable(parsed)


def _compiled(bootstrap):
    problems = []
    python_filters = []     # (typed_config path, config): loaded together in a fresh interpreter
    for li, listener in enumerate(bootstrap.listeners):
        chains = [(f"filter_chains[{ci}]", chain) for ci, chain in enumerate(listener.filter_chains)]
        if listener.default_filter_chain is not None:
            chains.append(("default_filter_chain", listener.default_filter_chain))
        for chain_path, chain in chains:
            for fi, network_filter in enumerate(chain.filters):
                if not isinstance(network_filter, HttpConnectionManager):
                    continue
                at = f"static_resources.listeners[{li}].{chain_path}.filters[{fi}].typed_config."
                try:
                    RouteTable(network_filter.route_config)
                except ConfigError as error:
                    problems += [(at + "route_config." + path, reason) for path, reason in error.problems]
                if network_filter.health_check is not None:
                    try:
                        HealthCheckFilter(network_filter.health_check)
                    except ConfigError as error:
                        hi = next(i for i, f in enumerate(network_filter.http_filters)
                                  if f.config is network_filter.health_check)
                        problems += [(at + f"http_filters[{hi}].typed_config." + path, reason)
                                     for path, reason in error.problems]
                python_filters += [(at + f"http_filters[{hi}].typed_config.", entry.config)
                                   for hi, entry in enumerate(network_filter.http_filters)
                                   if isinstance(entry.config, Python)]
    problems += check_python_filters(python_filters)
    if problems:
        raise ConfigError(problems)
    return bootstrap
