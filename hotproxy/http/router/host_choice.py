"""The host for one attempt of a retrying route: the cluster's pick, checked against the retry
host predicates."""
from __future__ import annotations


def pick_host(cluster, state, hash_key=None, downstream=None, headers=None):
    """Envoy's host choice with retry host predicates: pick again, up to
    host_selection_retry_max_attempts times, while previous_hosts rejects the host (then the
    last pick stands). ``downstream`` (its socket) and ``headers`` are for an ORIGINAL_DST
    cluster, which finds its host in them."""
    host = cluster.pick_host(hash_key, downstream, headers)
    if host is None or state.accepts(host):
        return host
    for _ in range(state.policy.host_selection_attempts):
        host = cluster.pick_host(hash_key, downstream, headers)
        if state.accepts(host):
            break
    return host
