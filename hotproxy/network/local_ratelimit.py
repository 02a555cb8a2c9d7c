"""The local rate limit network filter (envoy.filters.network.local_ratelimit): each new
connection takes a token from the bucket (shared by every worker process, token_bucket.py); a
connection that finds none is closed at once and counted in
``local_rate_limit.<stat_prefix>.rate_limited``. An idle connection handed over from an older
generation was let in already and takes no token."""
from __future__ import annotations

from ..stats.schema import stat_set
from ..token_bucket import shared_bucket
from .filters import NetworkFilter

NetworkLocalRateLimitStats = stat_set("NetworkLocalRateLimitStats", ("rate_limited",))


def factory(config, context):
    return NetworkLocalRateLimitFilter(config)


class NetworkLocalRateLimitFilter(NetworkFilter):
    def __init__(self, config):
        self.enabled = config.enabled
        self.bucket = shared_bucket(config.bucket_key(), config.token_bucket)
        self.stats = NetworkLocalRateLimitStats()
        self._sets = ((f"local_rate_limit.{config.stat_prefix}.", self.stats),)

    def on_new_connection(self, conn):
        if not self.enabled or conn.adopted or self.bucket.consume():
            return True
        self.stats.rate_limited += 1
        return False

    def stat_sets(self):
        return self._sets
