"""upstream_rq_<code>: a cluster's per-code counters appear with their first response and ship
as deltas under their Envoy names."""
from hotproxy.stats.counter_map import CodeCounts
from hotproxy.stats.shipper import StatsShipper
from hotproxy.stats.store import StatsStore


def test_codes_appear_with_their_first_response_and_ship_deltas_by_name():
    codes = CodeCounts()
    shipper = StatsShipper()
    shipper.add("cluster.backend.", codes)
    assert shipper.collect()["c"] == {}         # none before the first response
    codes[200] += 1
    codes[200] += 1
    codes[503] += 1
    store = StatsStore()
    store.merge("w0", shipper.collect())
    assert store.counters == {"cluster.backend.upstream_rq_200": 2, "cluster.backend.upstream_rq_503": 1}
    codes[200] += 1
    assert shipper.collect()["c"] == {"cluster.backend.upstream_rq_200": 1}
    assert shipper.collect()["c"] == {}


def test_a_code_never_answered_reads_zero_and_is_not_created_by_reading():
    codes = CodeCounts()
    assert codes[404] == 0 and codes.counters == ()
    assert getattr(codes, "upstream_rq_404") == 0
    assert not hasattr(codes, "upstream_rq_total")
