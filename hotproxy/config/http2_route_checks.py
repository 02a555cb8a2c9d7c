"""What a route may not ask of an HTTP/2 cluster yet, refused by name at load time rather than
done differently: hedging (the h2 exchange makes plain retries), mirroring to one (the copies go
as HTTP/1.1) and attempt counts (x-envoy-attempt-count is not added on h2 streams)."""
from __future__ import annotations

from .listener import HttpConnectionManager

_NOT_YET = "is not supported by hotproxy yet with an HTTP/2 cluster"


def http2_route_problems(bootstrap) -> list:
    """(field path, message) of every route feature an HTTP/2 cluster cannot carry yet."""
    h2 = {cluster.name for cluster in bootstrap.clusters if cluster.http2_options is not None}
    if not h2:
        return []
    problems = []
    for l, listener in enumerate(bootstrap.listeners):
        chains = [(f"filter_chains[{c}]", chain) for c, chain in enumerate(listener.filter_chains)]
        if listener.default_filter_chain is not None:
            chains.append(("default_filter_chain", listener.default_filter_chain))
        for chain_at, chain in chains:
            for f, config in enumerate(chain.filters):
                if isinstance(config, HttpConnectionManager):
                    where = (f"static_resources.listeners[{l}].{chain_at}.filters[{f}]"
                             ".typed_config.route_config")
                    problems += _route_config_problems(config.route_config, h2, where)
    return problems


def _route_config_problems(route_config, h2, where):
    problems = []
    for v, vhost in enumerate(route_config.virtual_hosts):
        counts = vhost.include_request_attempt_count or vhost.include_attempt_count_in_response
        for r, route in enumerate(vhost.routes):
            action = route.route
            if action is None:
                continue
            at = f"{where}.virtual_hosts[{v}].routes[{r}].route"
            targets = {action.cluster, *(w.name for w in action.weighted_clusters)}
            if not targets & h2:
                continue
            if action.hedge_policy is not None and action.hedge_policy.hedge_on_per_try_timeout:
                problems.append((f"{at}.hedge_policy", f"hedge_on_per_try_timeout {_NOT_YET}"))
            if counts:
                problems.append((f"{where}.virtual_hosts[{v}]", f"attempt counts {_NOT_YET}"))
            for m, mirror in enumerate(action.request_mirror_policies):
                if mirror.cluster in h2:
                    problems.append((f"{at}.request_mirror_policies[{m}].cluster",
                                     "mirroring to an HTTP/2 cluster is not supported by hotproxy yet"))
    return problems
