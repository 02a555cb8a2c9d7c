"""The host for one attempt of a retrying route: the cluster's pick, checked against the retry
host predicates."""
from __future__ import annotations


def pick_host(cluster, state, hash_key=None, downstream=None, headers=None):
    """Envoy's host choice with retry host predicates: pick again, up to
    host_selection_retry_max_attempts times, while previous_hosts rejects the host (then the
    last pick stands). ``downstream`` (its socket) and ``headers`` are for an ORIGINAL_DST
    cluster, which finds its host in them.

    A RING_HASH or MAGLEV cluster picks again with the same key and the host-selection attempt
    (1, 2, ...), as Envoy's chooseHost(hash, attempt): the ring's next entry, or Maglev's
    key flipped, so a hashed retry reaches another host where picking the same key again
    would find the rejected one. Without a key every pick is random already."""
    host = cluster.pick_host(hash_key, downstream, headers)
    if host is None or state.accepts(host):
        return host
    walk = hash_key is not None and getattr(cluster, "hashing", False)
    for attempt in range(1, state.policy.host_selection_attempts + 1):
        host = (cluster.pick_host(hash_key, downstream, headers, attempt) if walk else
                cluster.pick_host(hash_key, downstream, headers))
        if state.accepts(host):
            break
    return host
