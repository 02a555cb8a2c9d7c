"""DNS answers with their TTL, for respect_dns_ttl and for clusters that name their resolvers
(typed_dns_resolver_config's c-ares ``resolvers``, or ``dns_resolvers``): getaddrinfo gives no
TTL and asks only the system's resolvers.

Messages are built and read by dnspython; they travel on gevent sockets (UDP, then TCP when the
answer is truncated), so a query never blocks the arbiter's hub. A name /etc/hosts lists is
answered from there by getaddrinfo, with no TTL, as c-ares looks at the hosts file first.
Without named resolvers the servers of /etc/resolv.conf are asked.
"""
from __future__ import annotations

import struct

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
from gevent import socket

QUERY_TIMEOUT_S = 5.0
HOSTS_FILE = "/etc/hosts"
#: which record types a dns_lookup_family asks for, in order, and whether the first that has
#: addresses is enough
_TYPES = {"V4_ONLY": ((dns.rdatatype.A,), True), "V6_ONLY": ((dns.rdatatype.AAAA,), True),
          "V4_PREFERRED": ((dns.rdatatype.A, dns.rdatatype.AAAA), True),
          "AUTO": ((dns.rdatatype.AAAA, dns.rdatatype.A), True),
          "ALL": ((dns.rdatatype.A, dns.rdatatype.AAAA), False)}


class NoSuchName(Exception):
    """NXDOMAIN: an answer with no address, as for getaddrinfo's EAI_NONAME."""


def in_hosts_file(name, path=HOSTS_FILE) -> bool:
    try:
        with open(path) as hosts:
            for line in hosts:
                if name in line.partition("#")[0].split()[1:]:
                    return True
    except OSError:
        pass
    return False


def system_servers() -> list[tuple[str, int]]:
    """/etc/resolv.conf's nameservers."""
    resolver = dns.resolver.Resolver(configure=True)
    return [(server, resolver.port) for server in resolver.nameservers]


def resolve(name, lookup_family, servers=None, timeout=QUERY_TIMEOUT_S):
    """``([ip, ...], ttl)`` of ``name`` in the family order ``lookup_family`` asks; ttl is the
    smallest TTL of the records used, None without records. OSError when no server answers
    (or they answer with an error other than NXDOMAIN)."""
    servers = list(servers or system_servers())
    types, first_is_enough = _TYPES[lookup_family]
    addresses, ttl = [], None
    for rdtype in types:
        found, found_ttl = _query(name, rdtype, servers, timeout)
        for ip in found:
            if ip not in addresses:
                addresses.append(ip)
        if found_ttl is not None:
            ttl = found_ttl if ttl is None else min(ttl, found_ttl)
        if addresses and first_is_enough:
            break
    return addresses, ttl


def _query(name, rdtype, servers, timeout):
    query = dns.message.make_query(dns.name.from_text(name), rdtype)
    last_error = None
    for server in servers:
        try:
            response = _exchange(query, server, timeout)
        except (OSError, dns.exception.DNSException) as exc:
            last_error = exc
            continue
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return [], None
        if rcode != dns.rcode.NOERROR:
            last_error = OSError(f"{name}: {dns.rcode.to_text(rcode)} from {server[0]}")
            continue
        addresses, ttl = [], None
        for rrset in response.answer:
            if rrset.rdtype == rdtype:
                addresses.extend(rdata.address for rdata in rrset)
                ttl = rrset.ttl if ttl is None else min(ttl, rrset.ttl)
        return addresses, ttl
    raise OSError(f"DNS query for {name} failed: {last_error}")


def _exchange(query, server, timeout):
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    wire = query.to_wire()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(server)
        sock.send(wire)
        while True:
            data = sock.recv(65535)
            try:
                response = dns.message.from_wire(data)
            except dns.exception.DNSException:
                continue
            if query.is_response(response):
                break
    if not response.flags & dns.flags.TC:
        return response
    with socket.create_connection(server, timeout=timeout) as sock:   # truncated: ask over TCP
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        length = struct.unpack("!H", _read(sock, 2))[0]
        return dns.message.from_wire(_read(sock, length))


def _read(sock, count):
    data = b""
    while len(data) < count:
        piece = sock.recv(count - len(data))
        if not piece:
            raise OSError("DNS server closed the connection")
        data += piece
    return data
