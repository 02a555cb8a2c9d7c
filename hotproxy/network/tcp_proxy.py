"""The tcp_proxy network filter: connect each downstream connection to a cluster host and relay."""
from __future__ import annotations

import logging
import random
import time

import xxhash

from ..accesslog.loggers import AccessLoggers
from ..sockio import address_label
from ..stats.schema import TcpStats
from ..stream_info import StreamInfo
from ..upstream.connect import ConnectFailure, ConnectOptions, connect
from ..upstream.restored_destinations import restored
from .pump import CHUNK, Relay

log = logging.getLogger(__name__)


class TcpProxy:
    def __init__(self, config, cluster_manager, deadlines, access_log_sink=None):
        self.config = config
        self.access_logs = AccessLoggers(config.access_log, access_log_sink, tcp=True)
        self.deadlines = deadlines
        self.recv_size = CHUNK
        self.stats = TcpStats()
        self.cluster_manager = cluster_manager
        if config.cluster is not None:
            self._names, self._cumulative = [config.cluster], [1]
        else:
            self._names, self._cumulative, total = [], [], 0
            for entry in config.weighted_clusters:
                total += entry.weight
                self._names.append(entry.name)
                self._cumulative.append(total)

    def _pick_cluster_name(self):
        if len(self._names) == 1:
            return self._names[0]
        point = random.randrange(self._cumulative[-1])
        for name, bound in zip(self._names, self._cumulative):
            if point < bound:
                return name
        return self._names[-1]

    def serve(self, sock, address, tls=None):
        """Relay ``sock`` to a host of the cluster; ``tls`` is what its TLS handshake established
        (the relay then carries the decrypted bytes), None for plain text or TLS passed through."""
        stats = self.stats
        stats.downstream_cx_total += 1
        started = time.monotonic()
        cluster = self.cluster_manager.get(self._pick_cluster_name())
        if cluster is None:
            host = None
        elif self.config.hash_source_ip:    # Envoy's source_ip hash
            host = cluster.pick_host(xxhash.xxh64_intdigest(address[0].encode()), sock)
        else:
            host = cluster.pick_host(None, sock)    # the socket: for an ORIGINAL_DST cluster
        relay = None
        overflow = False
        try:
            if host is None:
                if cluster is None:
                    stats.downstream_cx_no_route += 1
                else:
                    cluster.stats.upstream_cx_none_healthy += 1
                return  # closing the downstream is all Envoy does too
            connections = cluster.breakers.connections
            if not connections.try_acquire():
                cluster.breaker_stats.upstream_cx_overflow += 1
                overflow = True
                return
            try:
                upstream = connect(host, cluster.stats, cluster.config.connect_timeout, host.transport,
                                   _proxy_options(host, sock, address), cluster.config.upstream_bind_config)
            except ConnectFailure as failure:
                connections.release()
                log.debug("tcp_proxy: connect to %s failed: %s", host.label, failure.reason)
                if cluster.outlier_detection is not None:
                    cluster.record_outcome(host, "connect_failure")
                return
            if cluster.outlier_detection is not None:
                cluster.record_outcome(host, "success")
            host.active_requests += 1
            try:
                relay = Relay(sock, upstream, self.deadlines, self.config.idle_timeout, self.recv_size)
                relay.run()
                stats.downstream_cx_rx_bytes_total += relay.bytes_up
                stats.downstream_cx_tx_bytes_total += relay.bytes_down
                cluster.stats.upstream_cx_rx_bytes_total += relay.bytes_down
                cluster.stats.upstream_cx_tx_bytes_total += relay.bytes_up
                if relay.timed_out:
                    stats.idle_timeout += 1
            finally:
                host.active_requests -= 1
                connections.release()
                cluster.stats.upstream_cx_active -= 1
                cluster.stats.upstream_cx_destroy += 1
                upstream.close()
        finally:
            if self.access_logs:
                self._log(sock, address, started, cluster, host, relay, tls, overflow)

    def _log(self, sock, address, started, cluster, host, relay, tls, overflow=False):
        now = time.monotonic()
        info = StreamInfo.started(time.time() - (now - started), started)
        info.downstream_tls = tls
        info.downstream_remote_address = info.downstream_direct_remote_address = address_label(address)
        try:
            direct = address_label(sock.getsockname())
        except OSError:
            direct = None
        destination = restored(sock)   # what original_dst or proxy_protocol restored, as Envoy logs it
        info.downstream_local_address = address_label(destination) if destination else direct
        if destination:
            info.downstream_direct_local_address = direct
        info.response_complete_ms = (now - started) * 1000
        info.upstream_cluster = cluster.name if cluster is not None else None
        if host is None:
            info.response_flags = {"UH"}
        elif relay is None:
            info.upstream_host = host.label
            info.response_flags = {"UO" if overflow else "UF"}
        else:
            info.upstream_host = host.label
            info.bytes_received, info.bytes_sent = relay.bytes_up, relay.bytes_down
            if relay.timed_out:
                info.response_flags = {"SI"}
        self.access_logs.log(info)


def _proxy_options(host, sock, address):
    """The addresses a PROXY protocol header to ``host`` announces: the downstream connection's
    (its destination the one a listener filter restored, as Envoy's local address)."""
    transport = host.transport
    if transport is None or transport.proxy_version is None:
        return None
    return ConnectOptions(proxy_source=tuple(address[:2]),
                          proxy_destination=restored(sock) or sock.getsockname()[:2])
