"""The RBAC network filter (envoy.filters.network.rbac): a connection's addresses, SNI and client
certificate checked against the configured policies (hotproxy/rbac/engine.py) once, and a denied
connection closed, after ``delay_deny`` when set. ``shadow_rules`` are only counted.

Envoy checks at the connection's first byte (ONE_TIME_ON_FIRST_BYTE); hotproxy checks as the
connection reaches the filter, after its TLS handshake: the facts a check reads are all known
then, and a server-first protocol behind a TCP proxy still works.

Stats, as Envoy names them: ``<stat_prefix>.rbac.allowed``/``denied`` and
``<stat_prefix>.rbac.<shadow_rules_stat_prefix>.shadow_allowed``/``shadow_denied``.
"""
from __future__ import annotations

import gevent

from ..rbac.engine import Engine, Facts
from ..stats.schema import stat_set
from .filters import NetworkFilter

RbacStats = stat_set("NetworkRbacStats", ("allowed", "denied"))
RbacShadowStats = stat_set("NetworkRbacShadowStats", ("shadow_allowed", "shadow_denied"))


def factory(config, context):
    return NetworkRbacFilter(config)


def _scope(prefix):
    return prefix if prefix.endswith(".") else prefix + "."


class NetworkRbacFilter(NetworkFilter):
    def __init__(self, config):
        self.config = config
        self.enforced = Engine(config.rules, "rules") if config.rules is not None else None
        self.shadow = (Engine(config.shadow_rules, "shadow_rules")
                       if config.shadow_rules is not None else None)
        self.stats = RbacStats()
        self.shadow_stats = RbacShadowStats()
        scope = _scope(config.stat_prefix) + "rbac."
        self._sets = ((scope, self.stats),
                      (_scope(scope + config.shadow_rules_stat_prefix), self.shadow_stats))

    def on_new_connection(self, conn):
        facts = connection_facts(conn)
        if self.shadow is not None:
            allowed, _policy = self.shadow.evaluate(facts)
            if allowed:
                self.shadow_stats.shadow_allowed += 1
            else:
                self.shadow_stats.shadow_denied += 1
        if self.enforced is None:
            return True
        allowed, _policy = self.enforced.evaluate(facts)
        if allowed:
            self.stats.allowed += 1
            return True
        self.stats.denied += 1
        if self.config.delay_deny:
            gevent.sleep(self.config.delay_deny)
        return False

    def stat_sets(self):
        return self._sets


def connection_facts(conn):
    local_ip, local_port = conn.local
    tls = conn.tls
    return Facts(local_ip, local_port, conn.remote[0], conn.direct_remote_ip, conn.remote[0],
                 server_name=conn.server_name, tls=tls is not None,
                 peer=tls.peer if tls is not None else None)
