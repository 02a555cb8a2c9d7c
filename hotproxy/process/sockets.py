"""Listening sockets: bound once, by address."""
from __future__ import annotations

import socket


def bind_listener(address, backlog=socket.SOMAXCONN):
    """A listening TCP socket for a config ``SocketAddress`` (close-on-exec, non-inheritable)."""
    family = socket.AF_INET6 if address.is_ipv6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address.address, address.port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock
