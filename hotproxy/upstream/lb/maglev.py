"""MAGLEV as Envoy's MaglevLoadBalancer fills its table, so that a hash key maps to the host
Envoy would pick (for the same hosts, weights and table size; hosts take turns in the order of
their "ip:port", as Envoy sorts them).

Each host's permutation starts at xxHash64(ip:port, seed 0) mod M and steps by
xxHash64(ip:port, seed 1) mod (M - 1) + 1; hosts take turns claiming their next free slot, a host
of half the heaviest normalized weight taking every other turn. A key goes to slot key mod M.
Without a key the pick is random, as in Envoy. A host-selection retry (``attempt``) picks with
the key's bits flipped by 2**64 - attempt.
"""
from __future__ import annotations

from collections import Counter

import xxhash

from .ring_hash import normalized_weights
from .round_robin import no_host

DEFAULT_TABLE_SIZE = 65537
_MASK = 2**64 - 1


def build_table(hosts, table_size=DEFAULT_TABLE_SIZE):
    if not hosts:
        return []
    # Envoy fills the table in the order of the hosts' addresses ("ip:port" as strings), not
    # the config's: the same hosts give the same table however they are listed
    weights = sorted(normalized_weights(hosts), key=lambda pair: pair[0].label)
    heaviest = max(weight for _, weight in weights)
    # host, offset, skip, weight, [target weight, next]
    entries = []
    for host, weight in weights:
        key = host.label.encode()
        entries.append([host, xxhash.xxh64_intdigest(key, 0) % table_size,
                        xxhash.xxh64_intdigest(key, 1) % (table_size - 1) + 1, weight, 0.0, 0])
    table = [None] * table_size
    filled = 0
    iteration = 1
    while filled < table_size:
        for entry in entries:
            if filled >= table_size:
                break
            host, offset, skip, weight, target, following = entry
            if iteration * weight < target:
                continue
            entry[4] = target + heaviest
            slot = (offset + skip * following) % table_size
            while table[slot] is not None:
                following += 1
                slot = (offset + skip * following) % table_size
            table[slot] = host
            entry[5] = following + 1
            filled += 1
        iteration += 1
    return table


class MaglevLoadBalancer:
    __slots__ = ("_table", "_random", "_table_size", "_stats")

    def __init__(self, hosts, rng, table_size=DEFAULT_TABLE_SIZE, stats=None):
        """``stats``: stats/lb.py's MaglevStats, set at each build."""
        self._random = rng.getrandbits
        self._table_size = table_size
        self._stats = stats
        self.update(hosts)

    def update(self, hosts):
        self._table = build_table(list(hosts), self._table_size)
        stats = self._stats
        if stats is not None and self._table:
            per_host = Counter(id(host) for host in self._table).values()
            stats.min_entries_per_host, stats.max_entries_per_host = min(per_host), max(per_host)

    def pick(self, hash_key=None, attempt=0):
        """The host for ``hash_key`` (random without one). ``attempt`` > 0, a host-selection
        retry, flips the key's bits with 2**64 - attempt first, as Envoy's chooseHost(hash,
        attempt) does, to land far from the rejected host's slot."""
        table = self._table
        if not table:
            return no_host()
        if hash_key is None:
            hash_key = self._random(64)
        if attempt:
            hash_key ^= (-attempt) & _MASK
        return table[hash_key % len(table)]
