"""Envoy's ORIGINAL_DST cluster in a worker: a host made on demand for the destination each
downstream connection was originally addressed to, and forgotten once unused.

``pick_host(hash_key=None, downstream=None, headers=None)`` finds the destination in Envoy's order:

1. with ``original_dst_lb_config.use_http_header``, the request header it names
   (``x-envoy-original-dst-host`` by default; its first value, ``ip:port`` or ``[ipv6]:port``).
   A value that is no such address counts ``original_dst_host_invalid`` and is passed over;
2. the local address a listener filter restored for the downstream connection ``downstream``
   (restored_destinations.py). Without one there is no host: Envoy's "no healthy upstream".

``upstream_port_override`` then replaces the port. The host for that address is reused, or made
with its pool and transport, as Envoy's load balancer adds it; its ``hostname`` is the cluster's
name followed by the address, as Envoy names it. ``hash_key`` is ignored (CLUSTER_PROVIDED).

Every ``cleanup_interval`` (5 s by default) ``sweep`` forgets the hosts that were not picked
since the previous sweep and have no request or TCP session in flight: their idle pooled
connections close, busy ones when released. Each worker keeps its own hosts; /clusters lists
those the workers report (their union), ``membership_total`` the largest worker's count.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import logging

import gevent

from ..stats.schema import stat_set
from .cluster import Cluster
from .host import Host
from .restored_destinations import restored

log = logging.getLogger(__name__)

#: Envoy's ORIGINAL_DST counter, reported as ``cluster.<name>.original_dst_host_invalid``
OriginalDstStats = stat_set("OriginalDstStats", ("original_dst_host_invalid",))


class OriginalDstCluster(Cluster):
    def __init__(self, config, counter_for=None):
        # Cluster builds a load balancer for its lb_policy; CLUSTER_PROVIDED means this class
        # is it, so the base gets an empty RANDOM one that is never used.
        super().__init__(dataclasses.replace(config, lb_policy="RANDOM"), counter_for)
        self.config = config
        lb_config = config.original_dst_lb_config
        self._header = (lb_config.http_header_name.encode()
                        if lb_config.http_header_name is not None else None)
        self._port_override = lb_config.upstream_port_override
        self.original_dst_stats = OriginalDstStats()
        # reported by the stats shipper under ``cluster.<name>.`` (it has no balancer's gauges)
        self.lb_stats = ("", self.original_dst_stats)
        self._by_address = {}       # (ip, port) → Host
        self._picked = set()        # addresses picked since the last sweep
        self._sweeper = None

    def __repr__(self):
        return f"<OriginalDstCluster {self.name} hosts={len(self.hosts)}>"

    def pick_host(self, hash_key=None, downstream=None, headers=None):
        """The host for the request's or the connection's original destination, made if new;
        None when there is none (module docstring)."""
        destination = None
        if self._header is not None and headers is not None:
            destination = self._from_header(headers)
        if destination is None and downstream is not None:
            destination = restored(downstream)
        if destination is None:
            return None
        if self._port_override is not None:
            destination = (destination[0], self._port_override)
        self._picked.add(destination)
        host = self._by_address.get(destination)
        return host if host is not None else self._add(destination)

    def _from_header(self, headers):
        name = self._header
        for key, value in headers:
            if key == name:
                destination = parse_ip_and_port(value)
                if destination is None:
                    log.debug("cluster %s: invalid %s value %r", self.name, name.decode(), value)
                    self.original_dst_stats.original_dst_host_invalid += 1
                return destination
        return None

    def _add(self, address):
        host = Host(address)
        host.hostname = self.name + host.label
        host.transport = self.transports.for_host(*host.socket_match_labels)
        host.pool = self._new_pool(host)
        self._by_address[address] = host
        self.hosts = [*self.hosts, host]    # a new list: the stats shipper may be reading the old
        self._count_members()
        return host

    def sweep(self):
        """Forget the hosts unused since the previous sweep (module docstring)."""
        picked, self._picked = self._picked, set()
        kept = []
        for host in self.hosts:
            if host.address in picked or host.active_requests > 0:
                kept.append(host)
            else:
                del self._by_address[host.address]
                host.close_pools()
        if len(kept) != len(self.hosts):
            self.hosts = kept
            self._count_members()

    def _count_members(self):
        self.stats.membership_total = self.stats.membership_healthy = len(self.hosts)

    def start(self):
        """Sweep every cleanup_interval from now on."""
        if self._sweeper is None:
            self._sweeper = gevent.spawn(self._sweep_periodically)

    def _sweep_periodically(self):
        interval = self.config.cleanup_interval
        while True:
            gevent.sleep(interval)
            self.sweep()

    def stop(self):
        if self._sweeper is not None:
            self._sweeper.kill(block=False)
            self._sweeper = None

    # membership comes from requests, never from the arbiter
    def set_hosts(self, hosts):
        raise TypeError("an ORIGINAL_DST cluster makes its own hosts")

    def set_resolved(self, entries):
        raise TypeError("an ORIGINAL_DST cluster makes its own hosts")


def parse_ip_and_port(value: bytes) -> tuple[str, int] | None:
    """``(ip, port)`` of ``1.2.3.4:80`` or ``[::1]:80`` (Envoy's
    parseInternetAddressAndPortNoThrow), the IPv6 address in its canonical form; None for
    anything else."""
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    if text.startswith("["):
        ip, separator, port = text[1:].partition("]:")
        version = 6
    else:
        ip, separator, port = text.rpartition(":")
        version = 4
    if not separator or not port.isascii() or not port.isdigit() or int(port) > 65535:
        return None
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if parsed.version != version:
        return None
    return str(parsed), int(port)
