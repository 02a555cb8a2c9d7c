"""Choosing a listener's filter chain for a connection, by Envoy's ``filter_chain_match`` rules.

The criteria are taken in Envoy's order: destination port, destination IP (``prefix_ranges``),
server name (SNI), transport protocol, application protocols (ALPN), direct source IP, source
type, source IP, source port. At each step only the chains that match the connection *most
specifically* go on to the next (an exact port before an unset one, the longest prefix, the exact
server name before ``*.example.com`` before ``*.com`` before none, the client's first ALPN protocol
that any chain names, …); there is no going back. What is left at the end is the chain, or the
listener's default chain, or none. Sans-IO: built once per listener, ``select`` per connection.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class Connection:
    """What a connection offers to the match: its addresses, and what listener filters found."""
    destination_ip: str
    destination_port: int
    source_ip: str
    source_port: int
    direct_source_ip: str | None = None   # before a PROXY protocol header replaced the source
    server_name: str | None = None
    transport_protocol: str = "raw_buffer"
    application_protocols: tuple[str, ...] = ()


class FilterChainMatcher:
    """``chains``: (match, chain) pairs, ``match`` having Envoy's FilterChainMatch fields
    (``destination_port``, ``prefix_ranges``, ``server_names``, ``transport_protocol``,
    ``application_protocols``, ``direct_source_prefix_ranges``, ``source_type``,
    ``source_prefix_ranges``, ``source_ports``; prefix ranges as ``ipaddress`` networks)."""

    def __init__(self, chains, default=None):
        self._chains = list(chains)
        self.default = default
        self._steps = (_destination_port, _destination_ip, _server_name, _transport_protocol,
                       _application_protocols, _direct_source_ip, _source_type, _source_ip, _source_port)

    def select(self, connection: Connection):
        candidates = self._chains
        for step in self._steps:
            candidates = step(candidates, connection)
            if not candidates:
                return self.default
        return candidates[0][1]


def _most_specific(candidates, score):
    """The candidates with the highest score; ``score`` is None for a chain that does not match."""
    scored = [(score(match), (match, chain)) for match, chain in candidates]
    scored = [(value, pair) for value, pair in scored if value is not None]
    if not scored:
        return []
    best = max(value for value, _ in scored)
    return [pair for value, pair in scored if value == best]


def _destination_port(candidates, connection):
    port = connection.destination_port
    return _most_specific(candidates, lambda match: 0 if match.destination_port is None
                          else (1 if match.destination_port == port else None))


def _prefix_score(ranges, address):
    """-1 for no ranges (matches anything, least specifically), the longest containing prefix,
    or None."""
    if not ranges:
        return -1
    ip = ipaddress.ip_address(address)
    lengths = [network.prefixlen for network in ranges if ip.version == network.version and ip in network]
    return max(lengths) if lengths else None


def _destination_ip(candidates, connection):
    return _most_specific(candidates, lambda match: _prefix_score(match.prefix_ranges, connection.destination_ip))


def _server_name_score(names, server_name):
    """Names most specific first: exact (a huge score), then ``*.suffix`` by suffix length,
    then no names at all (-1)."""
    if not names:
        return -1
    if server_name is None:
        return None
    best = None
    for name in names:
        if name == server_name:
            return 1 << 16
        if name.startswith("*.") and server_name.endswith(name[1:]) and len(server_name) > len(name) - 1:
            best = max(best or 0, len(name))
    return best


def _server_name(candidates, connection):
    return _most_specific(candidates, lambda match: _server_name_score(match.server_names, connection.server_name))


def _transport_protocol(candidates, connection):
    protocol = connection.transport_protocol
    return _most_specific(candidates, lambda match: 0 if not match.transport_protocol
                          else (1 if match.transport_protocol == protocol else None))


def _application_protocols(candidates, connection):
    # The client's protocols in its order: the first one any chain names decides.
    for protocol in connection.application_protocols:
        chosen = [pair for pair in candidates if protocol in pair[0].application_protocols]
        if chosen:
            return chosen
    return [pair for pair in candidates if not pair[0].application_protocols]


def _direct_source_ip(candidates, connection):
    address = connection.direct_source_ip or connection.source_ip
    return _most_specific(candidates, lambda match: _prefix_score(match.direct_source_prefix_ranges, address))


def _is_local(connection):
    source = ipaddress.ip_address(connection.source_ip)
    return source.is_loopback or connection.source_ip == connection.destination_ip


def _source_type(candidates, connection):
    kind = "SAME_IP_OR_LOOPBACK" if _is_local(connection) else "EXTERNAL"
    return _most_specific(candidates, lambda match: 0 if match.source_type in ("ANY", None)
                          else (1 if match.source_type == kind else None))


def _source_ip(candidates, connection):
    return _most_specific(candidates, lambda match: _prefix_score(match.source_prefix_ranges, connection.source_ip))


def _source_port(candidates, connection):
    port = connection.source_port
    return _most_specific(candidates, lambda match: 0 if not match.source_ports
                          else (1 if port in match.source_ports else None))

