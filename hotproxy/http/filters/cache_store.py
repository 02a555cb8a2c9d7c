"""The cache filter's storage: stored responses in memory, one store per worker (per filter
config), bounded by a byte budget and an entry count and evicting the least recently used.

Envoy's SimpleHttpCache is unbounded; this one is bounded on purpose, since what fills it comes
from clients and origins. A response is found by its request's key (the connection's scheme, Host,
and path with query) and then by the values its Vary headers name.
"""
from __future__ import annotations

from collections import OrderedDict

#: a worker's cache holds at most this many bytes of responses (heads and bodies) ...
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: ... and this many responses
DEFAULT_MAX_ENTRIES = 4096
#: no response larger than this share of the byte budget is stored (it would evict too much)
_LARGEST_SHARE = 4
_ENTRY_OVERHEAD = 256       # bytes counted per entry for the bookkeeping around it


class Entry:
    """One stored response. ``headers`` are as served (framing headers left out); ``vary`` the
    Vary names it was stored under and ``vary_key`` the request's values of them."""

    __slots__ = ("status", "headers", "body", "response_time", "vary", "vary_key", "size")

    def __init__(self, status, headers, body, response_time, vary=(), vary_key=()):
        self.status = status
        self.headers = headers
        self.body = body
        self.response_time = response_time
        self.vary = vary
        self.vary_key = vary_key
        self.size = (len(body) + sum(len(n) + len(v) + 4 for n, v in headers) + _ENTRY_OVERHEAD)


class CacheStore:
    def __init__(self, max_bytes=DEFAULT_MAX_BYTES, max_entries=DEFAULT_MAX_ENTRIES):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.max_entry_bytes = max_bytes // _LARGEST_SHARE
        self.size = 0
        self._entries = OrderedDict()   # (key, vary_key) → Entry, least recently used first
        self._vary = {}                 # key → (its Vary names, the vary keys stored)

    def __len__(self):
        return len(self._entries)

    def vary_of(self, key):
        found = self._vary.get(key)
        return None if found is None else found[0]

    def lookup(self, key, vary_key):
        entry = self._entries.get((key, vary_key))
        if entry is not None:
            self._entries.move_to_end((key, vary_key))
        return entry

    def insert(self, key, entry):
        """Store ``entry`` under ``key``; False when it is too large to be stored."""
        if entry.size > self.max_entry_bytes:
            return False
        known = self._vary.get(key)
        if known is not None and known[0] != entry.vary:
            # the origin varies on other headers now: the old variants can no longer be found
            for vary_key in known[1]:
                self.size -= self._entries.pop((key, vary_key)).size
            del self._vary[key]
        self.remove(key, entry.vary_key)
        known = self._vary.setdefault(key, (entry.vary, set()))
        known[1].add(entry.vary_key)
        self._entries[(key, entry.vary_key)] = entry
        self.size += entry.size
        while self.size > self.max_bytes or len(self._entries) > self.max_entries:
            (old_key, old_vary), old = self._entries.popitem(last=False)
            self._forget(old_key, old_vary, old)
        return True

    def remove(self, key, vary_key):
        entry = self._entries.pop((key, vary_key), None)
        if entry is not None:
            self._forget(key, vary_key, entry)

    def _forget(self, key, vary_key, entry):
        self.size -= entry.size
        known = self._vary.get(key)
        if known is not None:
            known[1].discard(vary_key)
            if not known[1]:
                del self._vary[key]
