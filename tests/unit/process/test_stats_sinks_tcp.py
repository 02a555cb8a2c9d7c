"""The TCP statsd sender's bounds (process/stats_sinks.py), with real loopback sockets: a sink that
never reads costs at most the buffer limit, counted in statsd.cx_overflow; a cluster with no
reachable host drops the flush, counted in statsd.cx_connect_fail; a reader gets every line."""
import socket as stdsocket

import gevent
from gevent import socket

from hotproxy.process import stats_sinks
from hotproxy.process.stats_sinks import CX_CONNECT_FAIL, CX_OVERFLOW, TcpSender
from hotproxy.stats.statsd import StatsdFormat
from hotproxy.stats.store import StatsStore


def listening():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    return server, server.getsockname()[1]


def test_a_sink_that_never_reads_costs_bounded_memory_and_is_counted(monkeypatch):
    monkeypatch.setattr(stats_sinks, "MAX_BUFFERED_TCP_BYTES", 256 * 1024)
    server, port = listening()
    store = StatsStore()
    sender = TcpSender(StatsdFormat("envoy"), lambda: [("127.0.0.1", port)], store, "statsd")
    big = {f"cluster.c{index}.upstream_rq_total": index for index in range(4000)}   # ~170 KB a flush
    try:
        for _ in range(200):
            sender.send(big, {}, {})
            gevent.sleep(0.01)
            assert len(sender._buffer) <= stats_sinks.MAX_BUFFERED_TCP_BYTES
            if store.counters.get(CX_OVERFLOW):
                break
        assert store.counters[CX_OVERFLOW] >= 1
    finally:
        sender.close()
        server.close()


def test_no_reachable_host_drops_the_flush_and_counts_it():
    closed = stdsocket.socket()
    closed.bind(("127.0.0.1", 0))       # bound, not listening: refused
    store = StatsStore()
    sender = TcpSender(StatsdFormat("envoy"), lambda: [("127.0.0.1", closed.getsockname()[1])], store, "statsd")
    try:
        sender.send({"a": 1}, {}, {})
        for _ in range(100):
            gevent.sleep(0.01)
            if store.counters.get(CX_CONNECT_FAIL):
                break
        assert store.counters[CX_CONNECT_FAIL] == 1 and not sender._buffer
    finally:
        sender.close()
        closed.close()


def test_a_reader_gets_every_line_on_one_connection():
    server, port = listening()
    store = StatsStore()
    sender = TcpSender(StatsdFormat("p"), lambda: [("127.0.0.1", port)], store, "statsd")
    try:
        sender.send({"a": 1}, {"g": 2}, {"h": [3.7]})
        conn, _ = server.accept()
        sender.send({"a": 0}, {}, {})
        received = b""
        while received.count(b"\n") < 4:
            received += conn.recv(4096)
        assert received == b"p.a:1|c\np.g:2|g\np.h:3|ms\np.a:0|c\n"
        conn.close()
    finally:
        sender.close()
        server.close()
