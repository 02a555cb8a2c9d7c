"""A header-based canary splitter for hotproxy's Python filter (docs/python-filters.md).

Each request is put in a bucket 0-99 by a stable hash of the user named by a header (or of the
client's address without one); buckets below ``percent`` go to the canary. A client may force the
choice with ``x-canary: always`` / ``x-canary: never``. The decision is written into the request
as ``x-hotproxy-canary: 1`` and the route cache is cleared, so a route matching that header picks
the canary cluster. The response says which side served it (``x-served-by-canary``).

config:          {percent: 10, user_header: x-user-id}
per-route config (typed_per_filter_config of the virtual host or route): {percent: 50}
"""
import zlib

DECISION = b"x-hotproxy-canary"
FORCE = b"x-canary"


class CanarySplitter:
    canary = None   # set per stream (each stream has its own copy of the instance)

    def __init__(self, config):
        self.percent = _percent(config.get("percent", 10))
        self.user_header = config.get("user_header", "x-user-id").lower().encode()

    def decode_headers(self, stream, end_stream):
        headers = stream.request.headers
        # The decision is this filter's alone: whatever a client sent under its name goes, and
        # the route it picked with it too.
        if _value(headers, DECISION) is not None:
            headers[:] = [(name, value) for name, value in headers if name != DECISION]
            stream.clear_route_cache()
        self.canary = self._choose(stream, headers)
        stream.info.set_metadata("canary", "chosen", self.canary)
        if self.canary:
            headers.append((DECISION, b"1"))
            stream.clear_route_cache()     # the route matching the header picks the canary

    def encode_headers(self, stream, response, end_stream):
        if self.canary is None:     # answered before this filter saw the request
            return
        response.headers.append((b"x-served-by-canary", b"yes" if self.canary else b"no"))

    def _choose(self, stream, headers):
        force = _value(headers, FORCE)
        if force == b"always":
            return True
        if force == b"never":
            return False
        per_route = stream.route_config(self.filter_name)
        percent = _percent(per_route.config["percent"]) if per_route and "percent" in per_route.config \
            else self.percent
        who = _value(headers, self.user_header) or stream.connection.remote_ip.encode()
        return zlib.crc32(who) % 100 < percent


def _value(headers, name):
    for key, value in headers:
        if key == name:
            return value
    return None


def _percent(value):
    percent = float(value)
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be between 0 and 100, got {value!r}")
    return percent
