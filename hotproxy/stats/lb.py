"""What the hashing balancers report, as Envoy 1.40 names them: ``cluster.<name>.ring_hash_lb.``
``size``, ``min_hashes_per_host`` and ``max_hashes_per_host`` of the ring last built, and
``cluster.<name>.maglev_lb.`` ``min_entries_per_host`` and ``max_entries_per_host`` of the table.
Every worker builds the same ring, so the gauges are shared (the highest report wins)."""
from .schema import stat_set

RingHashStats = stat_set("RingHashStats", (), shared_gauges=(
    "size", "min_hashes_per_host", "max_hashes_per_host"))
MaglevStats = stat_set("MaglevStats", (), shared_gauges=("min_entries_per_host", "max_entries_per_host"))
