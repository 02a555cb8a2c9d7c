"""The arbiter's stats sinks: every ``stats_flush_interval`` the merged stats go to each
configured statsd / DogStatsD sink (stats/statsd.py writes the lines). Workers never talk to a
sink: they only ship their counts (and, with sinks configured, their histogram values) to the
arbiter, as they always do.

A dead or slow sink costs bounded memory and is counted, never a stall:
- UDP datagrams go out on a non-blocking socket; one the kernel will not take is dropped and
  counted in ``statsd.datagrams_dropped``.
- TCP (``tcp_cluster_name``) lines wait in a buffer a writer greenlet empties; past 16 MiB the
  connection is closed, the buffer dropped and ``statsd.cx_overflow`` counted (Envoy's limit and
  counter). Lines for a cluster with no reachable host are dropped, counted in
  ``statsd.cx_connect_fail``.
"""
from __future__ import annotations

import logging
import socket as stdsocket

import gevent
from gevent import socket
from gevent.event import Event

from ..sockio import address_label
from ..stats.statsd import CounterDeltas, StatsdFormat, pack_datagrams, tcp_payload
from ..stats.tags import TagExtractor

log = logging.getLogger("hotproxy.stats")

MAX_BUFFERED_TCP_BYTES = 16 * 1024 * 1024
DATAGRAMS_DROPPED = "statsd.datagrams_dropped"
CX_OVERFLOW = "statsd.cx_overflow"
CX_CONNECT_FAIL = "statsd.cx_connect_fail"


class StatsSinks:
    """The sinks of the serving config, rebuilt when a reload changes them."""

    def __init__(self, store):
        self.store = store
        self._config = None         # (stats_sinks, stats_config) the senders were built from
        self._senders = []
        self._deltas = CounterDeltas()

    def flush(self, bootstrap) -> None:
        """One flush: counter deltas, used gauges and the histogram values recorded since the
        previous flush, to every sink of ``bootstrap``."""
        self._configure(bootstrap)
        store = self.store
        samples = store.take_samples()
        if not self._senders:
            return
        selection = store.selection
        counters = {name: value for name, value in store.counters.items() if selection.accepts(name)}
        deltas = self._deltas.take(counters, store.used)
        gauges = {name: level for name, level in store.gauges().items()
                  if name in store.used and selection.accepts(name)}
        for sender in self._senders:
            try:
                sender.send(deltas, gauges, samples)
            except Exception:       # a sink's failure never stops the arbiter's flushes
                log.exception("stats sink %s failed", sender.describe())

    def stop(self) -> None:
        for sender in self._senders:
            sender.close()
        self._senders = []

    def _configure(self, bootstrap) -> None:
        config = (bootstrap.stats_sinks, bootstrap.stats_config) if bootstrap is not None else ((), None)
        if config == self._config:
            return
        self.stop()
        self._config = config
        sinks, stats_config = config
        for sink in sinks:
            extractor = TagExtractor.from_config(stats_config) if sink.kind == "dog_statsd" else None
            statsd_format = StatsdFormat(sink.prefix, extractor)
            if sink.tcp_cluster_name is not None:
                hosts = _cluster_hosts(self.store, bootstrap, sink.tcp_cluster_name)
                self._senders.append(TcpSender(statsd_format, hosts, self.store, sink.tcp_cluster_name))
            else:
                self._senders.append(UdpSender(statsd_format, sink, self.store))
        if sinks:
            log.info("stats sinks: %s", ", ".join(sender.describe() for sender in self._senders))


class UdpSender:
    def __init__(self, statsd_format, sink, store):
        self.format = statsd_format
        self.max_bytes = sink.max_bytes_per_datagram
        self.destination = (sink.address.address, sink.address.port)
        self.store = store
        family = stdsocket.AF_INET6 if sink.address.is_ipv6 else stdsocket.AF_INET
        self.sock = stdsocket.socket(family, stdsocket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def describe(self):
        return f"{'dog_statsd' if self.format.extractor else 'statsd'} udp {address_label(self.destination)}"

    def send(self, deltas, gauges, samples):
        datagrams = pack_datagrams(self.format.flush_lines(deltas, gauges), self.max_bytes)
        datagrams += [line.encode() for line in self.format.histogram_lines(samples)]
        dropped = 0
        for datagram in datagrams:
            try:
                self.sock.sendto(datagram, self.destination)
            except OSError:     # full send buffer, nobody listening (ICMP), too large
                dropped += 1
        if dropped:
            self.store.add(DATAGRAMS_DROPPED, dropped)

    def close(self):
        self.sock.close()


class TcpSender:
    """Lines to one host of a cluster over a TCP connection a writer greenlet keeps."""

    def __init__(self, statsd_format, hosts, store, cluster_name, connect_timeout=5.0):
        self.format = statsd_format
        self.hosts = hosts
        self.store = store
        self.cluster_name = cluster_name
        self.connect_timeout = connect_timeout
        self._buffer = bytearray()
        self._wake = Event()
        self._conn = None
        self._closed = False
        self._writer = gevent.spawn(self._write_loop)

    def describe(self):
        return f"statsd tcp cluster {self.cluster_name}"

    def send(self, deltas, gauges, samples):
        payload = tcp_payload(self.format.flush_lines(deltas, gauges)
                              + self.format.histogram_lines(samples))
        if len(self._buffer) + len(payload) > MAX_BUFFERED_TCP_BYTES:
            # the sink does not keep up: start over rather than grow (Envoy's cx_overflow)
            self.store.add(CX_OVERFLOW)
            self._buffer.clear()
            self._disconnect()
            return
        self._buffer += payload
        self._wake.set()

    def close(self):
        self._closed = True
        self._writer.kill(block=False)
        self._disconnect()

    def _write_loop(self):
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            failures = 0
            while self._buffer and not self._closed:
                if failures > 1 or (self._conn is None and not self._connect()):
                    self._buffer.clear()     # nowhere to send: dropped, as Envoy drops them
                    break
                try:
                    sent = self._conn.send(self._buffer)
                except OSError:
                    self._disconnect()
                    failures += 1            # one reconnection, then the lines are dropped
                    continue
                del self._buffer[:sent]

    def _connect(self):
        for host, port in self.hosts():
            try:
                self._conn = socket.create_connection((host, port), timeout=self.connect_timeout)
                self._conn.settimeout(None)
                return True
            except OSError:
                continue
        self.store.add(CX_CONNECT_FAIL)
        return False

    def _disconnect(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _cluster_hosts(store, bootstrap, cluster_name):
    """``hosts()``: the ``(host, port)`` pairs to try for a cluster, read at each connection:
    the hosts its workers report (static, resolved or from EDS), else its configured endpoints."""
    cluster = bootstrap.cluster(cluster_name)

    def hosts():
        reported = store.hosts().get(cluster_name, {})
        pairs = [_split_label(label) for label in reported]
        if not pairs and cluster is not None:
            pairs = [(endpoint.address.address, endpoint.address.port)
                     for locality in cluster.endpoints for endpoint in locality.lb_endpoints]
        return pairs

    return hosts


def _split_label(label):
    host, _, port = label.rpartition(":")
    return host.strip("[]"), int(port)
