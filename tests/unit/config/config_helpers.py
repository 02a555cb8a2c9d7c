"""A small valid bootstrap to edit in tests, and the helpers to edit it by field path and to
collect the problems the loader reports."""
import copy
import re
from dataclasses import dataclass, field

import pytest
import yaml

from hotproxy.config import parse_bootstrap
from hotproxy.errors import ConfigError

HCM_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
            ".HttpConnectionManager")
TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"

BASE_YAML = f"""
static_resources:
  listeners:
  - name: http
    address:
      socket_address: {{ address: 127.0.0.1, port_value: 10000 }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": {HCM_TYPE}
          stat_prefix: ingress_http
          route_config:
            name: local_route
            virtual_hosts:
            - name: app
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: backend }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": {ROUTER_TYPE}
  - name: tcp
    address:
      socket_address: {{ address: 127.0.0.1, port_value: 10001 }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": {TCP_PROXY_TYPE}
          stat_prefix: tcp
          cluster: backend
  clusters:
  - name: backend
    connect_timeout: 0.25s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: 127.0.0.1, port_value: 8080 }}
  - name: canary
    type: STRICT_DNS
    load_assignment:
      cluster_name: canary
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: canary.internal, port_value: 8080 }}
"""

LISTENER = "static_resources.listeners[0]"
HCM = f"{LISTENER}.filter_chains[0].filters[0].typed_config"
ROUTE_CONFIG = f"{HCM}.route_config"
VHOST = f"{ROUTE_CONFIG}.virtual_hosts[0]"
ROUTE = f"{VHOST}.routes[0]"
TCP_PROXY = "static_resources.listeners[1].filter_chains[0].filters[0].typed_config"
CLUSTER = "static_resources.clusters[0]"
ENDPOINT = f"{CLUSTER}.load_assignment.endpoints[0].lb_endpoints[0].endpoint"

DELETE = object()       # an edit value that removes the field


def base_tree() -> dict:
    return yaml.safe_load(BASE_YAML)


def edit(tree, path, value):
    """Set (or with DELETE remove) the field at ``path``, e.g. ``static_resources.clusters[0]``.
    An index one past a list's end appends."""
    steps = [int(index) if index else key
             for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]
    parent = tree
    for step in steps[:-1]:
        parent = parent[step]
    last = steps[-1]
    if value is DELETE:
        del parent[last]
    elif isinstance(parent, list) and last == len(parent):
        parent.append(value)
    else:
        parent[last] = value
    return tree


def edited(edits: dict) -> dict:
    tree = base_tree()
    for path, value in edits.items():
        edit(tree, path, value if value is DELETE else copy.deepcopy(value))
    return tree


def parse_with(edits: dict):
    return parse_bootstrap(edited(edits))


def problems_of(tree) -> list:
    with pytest.raises(ConfigError) as info:
        parse_bootstrap(tree)
    return info.value.problems


@dataclass
class Rejected:
    """A table row: applying ``edits`` to the base config must be reported at ``at`` with a reason
    containing ``reason``."""
    edits: dict
    at: str
    reason: str
    id: str = field(default="")

    def check(self):
        problems = problems_of(edited(self.edits))
        assert any(path == self.at and self.reason in reason for path, reason in problems), \
            f"expected ({self.at!r}, ...{self.reason!r}...) among:\n" + "\n".join(
                f"  {path}: {reason}" for path, reason in problems)


def ids(cases):
    return [case.id or f"{case.at.rsplit('.', 1)[-1]}: {case.reason}"[:80] for case in cases]
