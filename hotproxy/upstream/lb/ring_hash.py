"""RING_HASH as Envoy's RingHashLoadBalancer builds and searches its ring, so that a hash key maps
to the host Envoy would pick (for the same hosts, weights and ring sizes).

Each host gets ``scale × normalized weight`` entries, hashed from "<ip:port>_<i>" with xxHash64
(seed 0) or MurmurHash2 (Envoy's 64-bit variant, seed 0xc70f6907), where scale makes the lightest
host own ceil(weight × minimum_ring_size) entries, capped at maximum_ring_size. A key goes to
the first entry whose hash is at least the key, wrapping around (ketama's search, kept literally).
Without a key the pick is random, as in Envoy. A host-selection retry (``attempt``) walks on
round the ring from the key's entry.
"""
from __future__ import annotations

import bisect
import math
from collections import Counter

import xxhash

from .round_robin import no_host

MURMUR_SEED = 0xC70F6907
_MUL = 0xC6A4A7935BD1E995
_MASK = 2**64 - 1


def murmur_hash2(data: bytes, seed: int = MURMUR_SEED) -> int:
    """Envoy's MurmurHash::murmurHash2 (libstdc++'s 64-bit _Hash_bytes)."""
    length = len(data)
    aligned = length & ~7
    value = (seed ^ (length * _MUL)) & _MASK
    for start in range(0, aligned, 8):
        word = int.from_bytes(data[start:start + 8], "little")
        word = (_shift_mix((word * _MUL) & _MASK) * _MUL) & _MASK
        value = ((value ^ word) * _MUL) & _MASK
    if length & 7:
        value = ((value ^ int.from_bytes(data[aligned:], "little")) * _MUL) & _MASK
    value = (_shift_mix(value) * _MUL) & _MASK
    return _shift_mix(value)


def _shift_mix(value):
    return value ^ (value >> 47)


def normalized_weights(hosts):
    total = sum(host.weight for host in hosts)
    return [(host, host.weight / total) for host in hosts]


def build_ring(hosts, minimum_ring_size=1024, maximum_ring_size=8388608, hash_function="XX_HASH"):
    """The sorted ring as two lists: entry hashes and their hosts."""
    if not hosts:
        return [], []
    weights = normalized_weights(hosts)
    smallest = min(weight for _, weight in weights)
    scale = min(math.ceil(smallest * minimum_ring_size) / smallest, float(maximum_ring_size))
    entries = []
    current = target = 0.0
    murmur = hash_function == "MURMUR_HASH_2"
    for host, weight in weights:
        prefix = f"{host.label}_".encode()
        target += scale * weight
        index = 0
        while current < target:
            key = prefix + b"%d" % index
            entries.append((murmur_hash2(key) if murmur else xxhash.xxh64_intdigest(key), len(entries), host))
            index += 1
            current += 1
    entries.sort(key=lambda entry: entry[0])   # stable: equal hashes keep their build order
    return [entry[0] for entry in entries], [entry[2] for entry in entries]


class RingHashLoadBalancer:
    __slots__ = ("_hashes", "_hosts", "_random", "_sizes", "_hash_function", "_stats")

    def __init__(self, hosts, rng, minimum_ring_size=1024, maximum_ring_size=8388608,
                 hash_function="XX_HASH", stats=None):
        """``stats``: stats/lb.py's RingHashStats, set at each build."""
        self._random = rng.getrandbits
        self._sizes = (minimum_ring_size, maximum_ring_size)
        self._hash_function = hash_function
        self._stats = stats
        self.update(hosts)

    def update(self, hosts):
        self._hashes, self._hosts = build_ring(list(hosts), *self._sizes, self._hash_function)
        stats = self._stats
        if stats is not None and self._hosts:
            per_host = Counter(id(host) for host in self._hosts).values()
            stats.size = len(self._hashes)
            stats.min_hashes_per_host, stats.max_hashes_per_host = min(per_host), max(per_host)

    def pick(self, hash_key=None, attempt=0):
        """The host for ``hash_key`` (random without one). ``attempt`` > 0, a host-selection
        retry (previous_hosts rejected the last pick), takes the entry ``attempt`` places further
        round the ring, as Envoy's chooseHost(hash, attempt) does: often another host, not
        always (the next entries may be the same host's)."""
        hashes = self._hashes
        if not hashes:
            return no_host()
        if hash_key is None:
            hash_key = self._random(64)
        index = ring_index(hashes, hash_key)
        if attempt:
            index = (index + attempt) % len(hashes)
        return self._hosts[index]

    @property
    def ring_size(self):
        return len(self._hashes)


def ring_index(hashes, key):
    """Envoy's (ketama's) search: the first entry whose hash is at least ``key``, else 0."""
    index = bisect.bisect_left(hashes, key)
    return 0 if index == len(hashes) else index
