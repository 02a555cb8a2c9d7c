"""The RBAC HTTP filter (envoy.filters.http.rbac): each request's headers, path, addresses and
client certificate checked against the configured policies (hotproxy/rbac/engine.py), as
Envoy 1.40 does it:

- ``shadow_rules`` are evaluated and never enforced: their outcome goes into the dynamic metadata
  of ``envoy.filters.http.rbac`` (``<shadow_rules_stat_prefix>shadow_effective_policy_id`` when a
  policy matched, ``…shadow_engine_result``: allowed or denied) and the ``shadow_*`` counters;
- ``rules`` are enforced: ``…enforced_effective_policy_id`` and ``…enforced_engine_result`` go
  into the same namespace, and a denied request is answered ``403 RBAC: access denied`` (details
  ``rbac_access_denied_matched_policy[<policy or none>]``). LOG allows every request and says in
  ``envoy.common``'s ``access_log_hint`` whether a policy matched.

A route's RBACPerRoute replaces both rule sets (an empty one enforces nothing); the counters and
metadata keys stay the filter's.
"""
from __future__ import annotations

from ...rbac.engine import Engine
from ...stats.counter_map import CounterMap
from ...stats.schema import stat_set
from .api import CONTINUE, FilterFactory, HttpFilter, header_value

NAMESPACE = "envoy.filters.http.rbac"
BODY = b"RBAC: access denied"

RbacStats = stat_set("RbacStats", ("allowed", "denied"))
RbacShadowStats = stat_set("RbacShadowStats", ("shadow_allowed", "shadow_denied"))


def factory(config, context):
    return RbacFactory(config, context.stat_prefix)


def stat_scope(prefix):
    """Envoy joins a stat prefix with a dot unless it ends with one."""
    return prefix if prefix.endswith(".") else prefix + "."


def _engines(config, where, keys, by_policy):
    enforced = Engine(config.rules, f"{where}.rules") if config.rules is not None else None
    shadow = (Engine(config.shadow_rules, f"{where}.shadow_rules")
              if config.shadow_rules is not None else None)
    if enforced is not None:
        for outcome in enforced.outcomes:
            outcome.extra = Verdict(outcome, keys[0], keys[1], "", by_policy, enforced.action)
    if shadow is not None:
        for outcome in shadow.outcomes:
            outcome.extra = Verdict(outcome, keys[2], keys[3], "shadow_", by_policy, None)
    return enforced, shadow


class Verdict:
    """What the filter does with one Outcome of one of its engines, worked out when the engine
    is built: the metadata it writes, the counter it adds to and, for a denial, its details."""

    __slots__ = ("metadata", "policy_counter", "details")

    def __init__(self, outcome, policy_key, result_key, counter_prefix, by_policy, action):
        result = "allowed" if outcome.allowed else "denied"
        policy = outcome.policy
        self.metadata = {result_key: result}
        if policy is not None:
            self.metadata = {policy_key: policy, result_key: result}
        self.policy_counter = (f"policy.{policy}.{counter_prefix}{result}"
                               if policy is not None and by_policy is not None else None)
        self.details = f"rbac_access_denied_matched_policy[{policy or 'none'}]"


class RbacFactory(FilterFactory):
    name = NAMESPACE      # the chain names it after its http_filters entry

    def __init__(self, config, stat_prefix):
        self.stats = RbacStats()
        self.shadow_stats = RbacShadowStats()
        scope = stat_prefix + "rbac."
        self._scopes = (stat_scope(scope + config.rules_stat_prefix),
                        stat_scope(scope + config.shadow_rules_stat_prefix))
        rules, shadow = config.rules_stat_prefix, config.shadow_rules_stat_prefix
        self.keys = (rules + "enforced_effective_policy_id", rules + "enforced_engine_result",
                     shadow + "shadow_effective_policy_id", shadow + "shadow_engine_result")
        # track_per_rule_stats: policy.<name>.allowed|denied, policy.<name>.shadow_allowed|…
        self.by_policy = (CounterMap(), CounterMap()) if config.track_per_rule_stats else None
        self.filter = RbacFilter(self, *_engines(config, "typed_config", self.keys,
                                                 self.by_policy))
        self._per_route = {}     # id(RbacPerRoute) → (config, its RbacFilter)

    def create(self, stream):
        return self.for_route(stream.route_config(self.name))[0]

    def for_route(self, per_route):
        """The filter of the route's RbacPerRoute (its rule sets replace both of the
        filter's), else the filter's own: one filter for every stream of a route."""
        if per_route is None:
            return self.filter, None
        cached = self._per_route.get(id(per_route))
        if cached is None or cached[0] is not per_route:
            cached = self._per_route[id(per_route)] = (per_route, RbacFilter(
                self, *_engines(per_route.rbac, "typed_per_filter_config.rbac", self.keys,
                                self.by_policy)))
        return cached[1], None

    def stat_sets(self):
        sets = ((self._scopes[0], self.stats), (self._scopes[1], self.shadow_stats))
        if self.by_policy is not None:
            sets += ((self._scopes[0], self.by_policy[0]), (self._scopes[1], self.by_policy[1]))
        return sets


class RbacFilter(HttpFilter):
    """Shared by every stream of the routes whose rules it enforces (the factory's own, or a
    route's RbacPerRoute's): the counters are the factory's."""

    __slots__ = ("factory", "enforced", "shadow", "logs", "facts")

    def __init__(self, factory, enforced, shadow):
        self.factory = factory
        self.enforced = enforced
        self.shadow = shadow
        #: the enforced rules' action is LOG: allow, and say in the access log hint
        self.logs = enforced is not None and enforced.action == "LOG"
        #: the StreamFacts of the request being checked, filled in again for each: the checks
        #: run within decode_headers, which nothing interrupts (no I/O), so one object serves
        #: every request (it keeps the last one's head and connection until the next)
        self.facts = _new(StreamFacts)

    def decode_headers(self, stream, end_stream):
        enforced, shadow = self.enforced, self.shadow
        if enforced is None and shadow is None:
            return CONTINUE
        factory = self.factory
        info = stream.info
        request = stream.request
        facts = self.facts
        facts._conn = stream.connection
        facts.headers = request.headers
        facts.host = request.host
        facts.path = request.target
        facts.method = request.method
        facts.metadata = info.dynamic_metadata
        if shadow is not None:
            outcome = shadow.outcome(facts)
            verdict = outcome.extra
            if outcome.allowed:
                factory.shadow_stats.shadow_allowed += 1
            else:
                factory.shadow_stats.shadow_denied += 1
            if verdict.policy_counter is not None:
                factory.by_policy[1].add(verdict.policy_counter)
            _write_metadata(info, verdict.metadata)
        if enforced is None:
            return CONTINUE
        for check, outcome in enforced.checks:     # Engine.outcome, written out
            if check(facts):
                break
        else:
            outcome = enforced.no_match
        verdict = outcome.extra
        if self.logs:
            info.set_metadata("envoy.common", "access_log_hint", outcome.policy is not None)
        if verdict.policy_counter is not None:
            factory.by_policy[0].add(verdict.policy_counter)
        if info.dynamic_metadata is None:   # _write_metadata's first case, without the call
            info.dynamic_metadata = {NAMESPACE: verdict.metadata.copy()}
        else:
            _write_metadata(info, verdict.metadata)
        if outcome.allowed:
            factory.stats.allowed += 1
            return CONTINUE
        factory.stats.denied += 1
        return stream.send_local_reply(403, BODY, details=verdict.details)


def _write_metadata(info, values):
    """``values`` into the stream's ``envoy.filters.http.rbac`` metadata."""
    metadata = info.dynamic_metadata
    if metadata is None:
        info.dynamic_metadata = {NAMESPACE: values.copy()}
        return
    ours = metadata.get(NAMESPACE)
    if ours is None:
        metadata[NAMESPACE] = values.copy()
    else:
        ours.update(values)


_new = object.__new__


class StreamFacts:
    """The request's Facts (rbac/engine.py): what the request head and the connection say, the
    addresses and the connection's TLS worked out only when a rule reads them (most rules read
    a header or the path). Each RbacFilter has one, filled in by its decode_headers."""

    __slots__ = ("_conn", "headers", "host", "path", "method", "metadata")

    @property
    def tls(self):
        return self._conn.tls is not None

    @property
    def scheme(self):
        return b"http" if self._conn.tls is None else b"https"

    @property
    def server_name(self):
        tls = self._conn.tls
        return None if tls is None else tls.server_name

    @property
    def peer(self):
        tls = self._conn.tls
        return None if tls is None else tls.peer

    @property
    def local_ip(self):
        return split_address(self._conn.local_address)[0]

    @property
    def local_port(self):
        return split_address(self._conn.local_address)[1]

    @property
    def source_ip(self):
        return self._conn.remote_ip

    direct_remote_ip = source_ip

    @property
    def remote_ip(self):
        return _remote_ip(self._conn, self.headers)


def split_address(label):
    """("ip", port) from "ip:port" or "[ip]:port"."""
    host, _, port = label.rpartition(":")
    return host.strip("[]"), int(port)


def _remote_ip(conn, headers):
    """Envoy's downstream remote address: the peer, or with use_remote_address false (or
    trusted hops) the x-forwarded-for entry ``xff_num_trusted_hops`` from the right."""
    hcm = getattr(conn, "hcm", None)
    hops = getattr(hcm, "xff_num_trusted_hops", 0)
    if getattr(hcm, "use_remote_address", False) and not hops:
        return conn.remote_ip
    xff = header_value(headers, b"x-forwarded-for")
    if xff is None:
        return conn.remote_ip
    entries = xff.split(b",")
    if len(entries) <= hops:
        return conn.remote_ip
    return entries[-1 - hops].strip().decode("latin-1")
