"""The connection counts workers share (listener/connection_counts.py): one cell per worker and
counter, sums up to the slot high-water mark, exact admission under the record lock across real
processes, and the arbiter's bookkeeping: slots cleared when their worker dies, columns freed
and reused, a growing table that never moves what a worker mapped."""
import multiprocessing
import os
import time

import pytest

from hotproxy.config import parse_text
from hotproxy.listener.connection_counts import (GLOBAL_CONNECTIONS, ConnectionCounts, WorkerCounts,
                                                 connection_limit_key, counter_keys)


@pytest.fixture
def table():
    counts = ConnectionCounts()
    yield counts
    os.close(counts.fd)


def worker(table, owner, keys):
    """What a worker spawned for ``owner`` maps, from the arguments the arbiter gives it."""
    table.claim_slot(owner)
    argv, columns = table.worker_share(owner, keys)
    return WorkerCounts.from_args(argv[1], columns)


def test_a_limit_holds_across_workers_and_a_release_frees_a_place(table):
    first = worker(table, "w0", ["global"]).counter("global", 3)
    second = worker(table, "w1", ["global"]).counter("global", 3)
    assert [first.try_acquire(), second.try_acquire(), second.try_acquire()] == [True, True, True]
    assert not first.try_acquire() and not second.try_acquire()
    assert table.total("global") == first.total() == 3
    first.release()
    assert second.try_acquire()
    assert table.total("global") == 3


def test_add_takes_a_place_even_over_the_limit(table):
    counter = worker(table, "w0", ["k"]).counter("k", 1)
    assert counter.try_acquire()
    counter.add()  # an adopted connection keeps its place
    assert counter.total() == 2 and not counter.try_acquire()


def test_a_dead_workers_places_are_cleared_and_its_slot_reused(table):
    dead = worker(table, "w0", ["a", "b"])
    dead.counter("a", 10).try_acquire()
    dead.counter("b", 10).add()
    survivor = worker(table, "w1", ["a"]).counter("a", 10)
    survivor.try_acquire()
    table.release_slot("w0")
    assert table.total("a") == 1 and table.total("b") == 0
    table.release_slot("w0")  # idempotent
    assert worker(table, "w2", ["a"]).slot == dead.slot


def test_columns_no_generation_counts_in_are_freed_and_reused(table):
    a, b = table.column("a"), table.column("b")
    table.retain({"b"})
    assert table.column("c") == a and table.column("b") == b
    assert set(table.columns) == {"b", "c"}


def test_a_growing_table_leaves_earlier_views_intact(table):
    early = worker(table, "w0", ["a"]).counter("a", 5)
    early.try_acquire()
    for key in "bcdefgh":
        table.column(key)  # each one grows the file
    late = worker(table, "w1", ["a", "h"])
    assert late.counter("a", 5).try_acquire() and early.try_acquire()
    assert table.total("a") == 3 and late.counter("h", 1).try_acquire() and table.total("h") == 1


def _contend(fd, slot, column, results):
    counter = WorkerCounts(fd, slot, {"k": column}).counter("k", 1)
    most, held = 0, 0
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        if counter.try_acquire():
            held += 1
            most = max(most, counter.total())
            counter.release()
    results.put((most, held))


def test_racing_processes_never_share_the_last_place(table):
    """Four processes take and give back the one place as fast as they can. Without the lock,
    two that read a sum of 0 at once would both take it (each then sees 2: it happens within a
    few thousand tries); with it, no holder ever sees another."""
    column = table.column("k")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    racers = [context.Process(target=_contend, args=(table.fd, table.claim_slot(n), column, results))
              for n in range(4)]
    for racer in racers:
        racer.start()
    outcomes = [results.get(timeout=30) for _ in racers]
    for racer in racers:
        racer.join(10)
    assert [most for most, _held in outcomes] == [1, 1, 1, 1]
    assert all(held for _most, held in outcomes) and table.total("k") == 0


LISTENER = """
  - name: {name}
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:{limit}
      - name: tcp
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: backend
"""
LIMIT = """
      - name: envoy.filters.network.connection_limit
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit
          stat_prefix: cl
          max_connections: 2"""
CONNECTIONS_TYPE = ("type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3"
                    ".DownstreamConnectionsConfig")
OVERLOAD = f"""
overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config:
      "@type": {CONNECTIONS_TYPE}
      max_active_downstream_connections: 10
"""
CLUSTER = """
  clusters:
  - name: backend
    load_assignment:
      cluster_name: backend
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 9}}}}]}]
"""


def test_counter_keys_name_the_global_limit_and_each_limited_listener():
    plain = LISTENER.format(name="plain", port=1, limit="")
    limited = LISTENER.format(name="limited", port=2, limit=LIMIT)
    assert counter_keys(parse_text(f"static_resources:\n  listeners:{plain}{CLUSTER}")) == []
    text = f"static_resources:\n  listeners:{plain}{limited}{CLUSTER}"
    assert counter_keys(parse_text(text)) == [connection_limit_key("limited", 0)]
    assert counter_keys(parse_text(OVERLOAD + text)) == [GLOBAL_CONNECTIONS, connection_limit_key("limited", 0)]


def test_a_runtime_limited_counter_counts_without_a_limit_and_holds_one_once_set(table):
    limit = [None]
    first = worker(table, "w0", ["g"]).runtime_limited_counter("g", lambda: limit[0])
    second = worker(table, "w1", ["g"]).runtime_limited_counter("g", lambda: limit[0])
    assert all(counter.try_acquire() for counter in (first, second, first))
    assert table.total("g") == 3       # counted all along, so a limit set now is right at once
    limit[0] = 3
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire() and not first.try_acquire()
    limit[0] = None
    assert first.try_acquire() and table.total("g") == 4


def test_the_runtime_key_gives_a_global_counter_only_with_runtime_layers_and_no_monitor():
    listener = """
static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: 1}}
    filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy,
      typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy,
                     stat_prefix: t, cluster: c}}]}]
  clusters: [{name: c, type: STATIC, connect_timeout: 1s}]
"""
    runtime = "layered_runtime: {layers: [{name: admin, admin_layer: {}}]}\n"
    monitor = """overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
      max_active_downstream_connections: 5
"""
    assert GLOBAL_CONNECTIONS not in counter_keys(parse_text(listener))
    assert GLOBAL_CONNECTIONS in counter_keys(parse_text(runtime + listener))
    assert counter_keys(parse_text(runtime + monitor + listener)).count(GLOBAL_CONNECTIONS) == 1
