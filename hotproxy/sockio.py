"""Socket helpers for the data path (gevent sockets)."""
from gevent.socket import socket as GeventSocket


def send_all(sock, data):
    """Send every byte of ``data`` on a gevent socket.

    Not ``sock.sendall``: gevent's makes a getsockopt(SO_SNDBUF) syscall on every call. ``send``
    waits for writability only when the kernel buffer is full, honouring ``sock.timeout``.
    A plain gevent socket's first try goes to its non-blocking socket directly: gevent's
    ``send`` costs a Python frame and three lookups through its class's ``__getattr__``.
    """
    if type(sock) is GeventSocket:
        try:
            sent = sock._sock.send(data)
        except BlockingIOError:
            sent = 0    # the kernel buffer is full: gevent's send waits for room
    else:
        sent = sock.send(data)
    if sent == len(data):
        return
    view = memoryview(data)
    while sent < len(view):
        sent += sock.send(view[sent:])


_GATHER_MIN = 16384


def send_parts(sock, parts):
    """Send the byte strings in ``parts`` in order, gathered in one sendmsg where the kernel takes
    them all (no join copy); returns the byte count."""
    if len(parts) == 1:
        send_all(sock, parts[0])
        return len(parts[0])
    total = sum(map(len, parts))
    if total < _GATHER_MIN:  # joining a few small pieces costs less than building an iovec
        send_all(sock, b"".join(parts))
        return total
    try:
        sent = sock.sendmsg(parts)
    except NotImplementedError:  # a TLS socket: its records are written one buffer at a time
        sent = 0
    if sent < total:
        send_all(sock, b"".join(parts)[sent:])
    return total


def address_label(address):
    """``ip:port`` as Envoy prints an address (``[::1]:80`` for IPv6)."""
    ip, port = address[0], address[1]
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
