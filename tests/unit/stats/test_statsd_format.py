"""Envoy's statsd and DogStatsD wire format (stats/statsd.py), as a real Envoy 1.40 sends it."""
from hotproxy.config.bootstrap import StatsTag
from hotproxy.stats.statsd import CounterDeltas, StatsdFormat, pack_datagrams, tcp_payload
from hotproxy.stats.tags import TagExtractor


def test_statsd_lines_use_full_names_and_the_prefix():
    statsd = StatsdFormat("envoy")
    assert statsd.flush_lines({"cluster.backend.upstream_rq_2xx": 3}, {"server.live": 1}) == [
        "envoy.cluster.backend.upstream_rq_2xx:3|c", "envoy.server.live:1|g"]


def test_histogram_values_are_whole_milliseconds_one_line_each():
    lines = StatsdFormat("p").histogram_lines({"cluster.b.upstream_rq_time": [0.4, 12.9, 3]})
    assert lines == ["p.cluster.b.upstream_rq_time:0|ms", "p.cluster.b.upstream_rq_time:12|ms",
                     "p.cluster.b.upstream_rq_time:3|ms"]


def test_dog_statsd_puts_envoys_tags_after_the_type():
    dog = StatsdFormat("envoy", TagExtractor())
    assert dog.line("cluster.backend.upstream_rq_2xx", 5, "c") == \
        "envoy.cluster.upstream_rq_xx:5|c|#envoy.response_code_class:2,envoy.cluster_name:backend"
    assert dog.line("http.ingress.downstream_rq_time", 7, "ms") == \
        "envoy.http.downstream_rq_time:7|ms|#envoy.http_conn_manager_prefix:ingress"
    assert dog.line("server.live", 1, "g") == "envoy.server.live:1|g"     # no tags, no "|#"


def test_dog_statsd_keeps_custom_tag_names():
    dog = StatsdFormat("envoy", TagExtractor((StatsTag("region", fixed_value="eu"),)))
    assert dog.line("server.live", 1, "g") == "envoy.server.live:1|g|#region:eu"


def test_datagrams_pack_lines_up_to_the_limit_as_envoy_buffers_them():
    lines = ["a" * 10, "b" * 10, "c" * 10, "d" * 40, "e" * 5]
    assert pack_datagrams(lines, None) == [line.encode() for line in lines]
    packed = pack_datagrams(lines, 32)
    # a line too large to buffer goes out at once, ahead of the buffered ones (Envoy's order)
    assert packed == [b"d" * 40, b"a" * 10 + b"\n" + b"b" * 10 + b"\n" + b"c" * 10, b"e" * 5]
    assert all(len(datagram) <= 32 for datagram in packed if b"d" not in datagram)


def test_tcp_lines_end_in_newlines():
    assert tcp_payload(["a:1|c", "b:2|g"]) == b"a:1|c\nb:2|g\n"


def test_counter_deltas_are_the_change_since_the_last_flush_for_used_counters():
    deltas = CounterDeltas()
    assert deltas.take({"a": 5, "b": 0}, used={"a"}) == {"a": 5}
    assert deltas.take({"a": 5, "b": 0}, used={"a"}) == {"a": 0}
    assert deltas.take({"a": 9, "b": 2}, used={"a", "b"}) == {"a": 4, "b": 2}
    # /reset_counters: the counter restarts below what was sent; its new value is the delta
    assert deltas.take({"a": 1, "b": 2}, used={"a", "b"}) == {"a": 1, "b": 0}
