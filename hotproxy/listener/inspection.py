"""Running a listener's filters on an accepted connection: what they find is what the filter-chain
match reads (listener/filter_chain_match.py's ``Connection``).

- ``proxy_protocol`` reads and consumes a PROXY v1/v2 header: the client's addresses replace the
  connection's (the direct peer stays as ``direct_source_ip``).
- ``original_dst`` reads the destination before an iptables REDIRECT (``SO_ORIGINAL_DST``,
  IPv4 and IPv6).

``original_dst`` and ``proxy_protocol`` also restore the connection's local address, as Envoy's do:
what an ORIGINAL_DST cluster takes as its destination (upstream/restored_destinations.py; the
listener forgets it when the connection ends).
- ``tls_inspector`` peeks at a ClientHello (SNI, ALPN, ``tls``) and ``http_inspector`` at a
  request line (``http/1.1``, ``http/1.0``, ``h2c``), both without consuming a byte.

The filters run in config order, all within ``listener_filters_timeout``; at the timeout the
connection is closed, or, with ``continue_on_listener_filters_timeout``, matched with what was
found so far. Garbage into any filter closes that connection alone. Peeking waits for more bytes
by polling with a growing pause: a socket with unread bytes is always readable, so readiness
cannot say that more arrived; a ClientHello split over segments is rare and short.
"""
from __future__ import annotations

import socket as _stdsocket
import struct

import gevent
from gevent import Timeout

from ..config.filter_chain import HttpInspector, OriginalDst, ProxyProtocol, TlsInspector
from ..stats.schema import stat_set
from ..upstream import restored_destinations
from .filter_chain_match import Connection
from .filters import client_hello, proxy_protocol
from .filters.client_hello import NeedMore

SO_ORIGINAL_DST = 80
IP6T_SO_ORIGINAL_DST = 80
_PEEK_LIMIT = 64 * 1024
_FIRST_PAUSE_S, _MAX_PAUSE_S = 0.001, 0.05

TlsInspectorStats = stat_set("TlsInspectorStats", (
    "tls_found", "tls_not_found", "sni_found", "sni_not_found", "alpn_found", "alpn_not_found",
    "client_hello_too_large", "read_error"))
ProxyProtocolStats = stat_set("ProxyProtocolStats", (
    "found", "not_found_allowed", "not_found_disallowed", "error"))
HttpInspectorStats = stat_set("HttpInspectorStats", ("http10_found", "http11_found", "http2_found",
                                                     "http_not_found"))
#: The listener's own counters for its filters (``listener.<address>.*``).
ListenerFilterStats = stat_set("ListenerFilterStats", (
    "downstream_listener_filter_error", "downstream_listener_filter_remote_close",
    "downstream_pre_cx_timeout", "no_filter_chain_match"))


class InspectionStats:
    """Every counter the listener filters keep, by the prefix each reports under."""

    def __init__(self):
        self.listener = ListenerFilterStats()
        self.tls_inspector = TlsInspectorStats()
        self.proxy_proto = ProxyProtocolStats()
        self.http_inspector = HttpInspectorStats()

    def sets(self, listener_scope):
        """(prefix, stat set) pairs: the listener's own under ``listener_scope``, the filters'
        at the root, where Envoy reports them (summed over listeners)."""
        return [(listener_scope, self.listener), ("tls_inspector.", self.tls_inspector),
                ("proxy_proto.", self.proxy_proto), ("http_inspector.", self.http_inspector)]


_H2_PREFACE = b"PRI * HTTP/2.0\r\n"


class Rejected(Exception):
    """The connection is to be closed; ``stat`` names what is counted for it."""


class Inspection:
    def __init__(self, filters, timeout, continue_on_timeout, stats):
        self.filters = filters
        self.timeout = timeout or None
        self.continue_on_timeout = continue_on_timeout
        self.stats = stats

    def run(self, sock, address) -> Connection | None:
        """What the filters found about ``sock``, or None when it must be closed."""
        local = sock.getsockname()
        found = {"destination_ip": local[0], "destination_port": local[1],
                 "source_ip": address[0], "source_port": address[1]}
        try:
            with Timeout(self.timeout):
                for config in self.filters:
                    self._one(config, sock, found)
        except Timeout:
            self.stats.listener.downstream_pre_cx_timeout += 1
            if not self.continue_on_timeout:
                return None
        except Rejected:
            return None
        except OSError:
            self.stats.listener.downstream_listener_filter_remote_close += 1
            return None
        if found.pop("restored", False):
            restored_destinations.restore(sock.fileno(), (found["destination_ip"], found["destination_port"]))
        return Connection(**found)

    def _one(self, config, sock, found):
        if isinstance(config, TlsInspector):
            self._tls(sock, found)
        elif isinstance(config, HttpInspector):
            self._http(sock, found)
        elif isinstance(config, ProxyProtocol):
            self._proxy(sock, found, config.allow_requests_without_proxy_protocol)
        elif isinstance(config, OriginalDst):
            _original_destination(sock, found)

    def _tls(self, sock, found):
        stats = self.stats
        try:
            hello = _peek_until(sock, client_hello.inspect)
        except client_hello.ClientHelloError:
            stats.listener.downstream_listener_filter_error += 1
            stats.tls_inspector.read_error += 1
            raise Rejected from None
        if hello is client_hello.NOT_TLS:
            stats.tls_inspector.tls_not_found += 1
            return
        stats.tls_inspector.tls_found += 1
        found["transport_protocol"] = "tls"
        _count(stats.tls_inspector, "sni_found" if hello.server_name else "sni_not_found")
        _count(stats.tls_inspector, "alpn_found" if hello.alpn else "alpn_not_found")
        if hello.server_name:
            found["server_name"] = hello.server_name
        if hello.alpn:
            found["application_protocols"] = hello.alpn

    def _http(self, sock, found):
        if found.get("transport_protocol") == "tls":
            return  # only plain text is inspected
        protocol = _peek_until(sock, _http_protocol)
        names = {"h2c": "http2_found", "http/1.1": "http11_found", "http/1.0": "http10_found"}
        _count(self.stats.http_inspector, names.get(protocol, "http_not_found"))
        if protocol is not None:
            found["application_protocols"] = (protocol,)

    def _proxy(self, sock, found, allow_without):
        stats = self.stats
        try:
            header = _peek_until(sock, proxy_protocol.parse)
        except proxy_protocol.ProxyProtocolError:
            stats.proxy_proto.error += 1
            raise Rejected from None
        if header is proxy_protocol.NOT_PROXY:
            if not allow_without:
                stats.proxy_proto.not_found_disallowed += 1
                raise Rejected
            stats.proxy_proto.not_found_allowed += 1
            return
        _consume(sock, header.length)
        stats.proxy_proto.found += 1
        if header.source is not None:
            found["direct_source_ip"] = found["source_ip"]
            found["source_ip"], found["source_port"] = header.source
            found["destination_ip"], found["destination_port"] = header.destination
            found["restored"] = True


def _count(stats, name):
    setattr(stats, name, getattr(stats, name) + 1)


def _peek_until(sock, parse):
    """``parse`` of the bytes peeked so far, peeking again (after a pause) while it answers
    ``NeedMore``."""
    pause = _FIRST_PAUSE_S
    seen = 0
    while True:
        data = sock.recv(_PEEK_LIMIT, _stdsocket.MSG_PEEK)
        if not data:
            raise OSError("closed before its first bytes were read")
        result = parse(data)
        if not isinstance(result, NeedMore):
            return result
        if len(data) >= _PEEK_LIMIT:
            raise Rejected
        if len(data) == seen:
            gevent.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE_S)
        seen = len(data)


def _consume(sock, length):
    while length:
        data = sock.recv(length)
        if not data:
            raise OSError("closed inside its PROXY header")
        length -= len(data)


def _http_protocol(data):
    """``h2c``, ``http/1.1`` or ``http/1.0`` for the bytes a plain connection began with, None
    when they are not HTTP, ``NeedMore`` until the request line (or the h2 preface) is in."""
    if _H2_PREFACE.startswith(data[:len(_H2_PREFACE)]):
        return "h2c" if len(data) >= len(_H2_PREFACE) else NeedMore(len(_H2_PREFACE))
    end = data.find(b"\r\n")
    if end < 0:
        return NeedMore(len(data) + 1) if len(data) < 8192 else None
    line = data[:end]
    if line.endswith(b" HTTP/1.1"):
        return "http/1.1"
    if line.endswith(b" HTTP/1.0"):
        return "http/1.0"
    return None


def _original_destination(sock, found):
    """The destination before an iptables REDIRECT, or the local address for a connection that
    was not redirected (conntrack knows both); nothing when the kernel cannot tell, as in Envoy."""
    destination = None
    if sock.family == _stdsocket.AF_INET6:
        destination = _ask(sock, _stdsocket.SOL_IPV6, IP6T_SO_ORIGINAL_DST, 28, "!2xH4x16s",
                           lambda packed: _stdsocket.inet_ntop(_stdsocket.AF_INET6, packed))
    if destination is None:     # IPv4, or IPv4 on a dual-stack socket
        destination = _ask(sock, _stdsocket.SOL_IP, SO_ORIGINAL_DST, 16, "!2xH4s", _stdsocket.inet_ntoa)
    if destination is not None:
        found["destination_ip"], found["destination_port"] = destination
        found["restored"] = True


def _ask(sock, level, option, size, layout, ip_of):
    """(ip, port) of the sockaddr that getsockopt(``level``, ``option``) answers, or None."""
    try:
        port, packed = struct.unpack_from(layout, sock.getsockopt(level, option, size))
    except (OSError, struct.error):
        return None
    return ip_of(packed), port
