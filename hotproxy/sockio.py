"""Socket helpers for the data path (gevent sockets)."""
from gevent.socket import socket as _GeventSocket


def send_all(sock, data):
    """Send every byte of ``data`` on a gevent socket.

    Not ``sock.sendall``: gevent's makes a getsockopt(SO_SNDBUF) syscall on every call. ``send``
    waits for writability only when the kernel buffer is full, honouring ``sock.timeout``.
    """
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
    total = sum(len(part) for part in parts)
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


class ReadRegistration:
    """Keeps a plain gevent socket's fd registered for reading in the event loop for as long as
    the connection lives, so the socket's own waits stop costing an ``epoll_ctl`` each.

    gevent starts the socket's read watcher at each wait and stops it after. libev keeps an fd in
    the kernel's epoll set when its last watcher stops, forgets that it did, and at the next start
    on a later loop turn asks the kernel to ADD it again, which fails with EEXIST: one failing
    system call per wait, two per proxied request (the downstream's and the upstream's). A second
    read watcher on the same fd keeps libev's mask for the fd unchanged, so starting and stopping
    the socket's own watcher no longer reaches the kernel.

    The kept watcher does no reading, and it stops itself whenever it fires (its callback is its
    own ``stop``, a C call: no Python frame per readiness event). The fd is level-triggered: a
    readable fd that nobody reads (a pipelined request, a FIN while the exchange waits upstream)
    must not wake the loop on every turn. The owner calls ``rearm`` right after it has read, in
    the same loop turn: libev applies fd changes once per turn, so a stop and a start within
    one turn cost nothing. ``close`` must come before the socket is closed or handed to
    another process."""

    __slots__ = ("_watcher",)

    def __init__(self, sock):
        watcher = self._watcher = sock.hub.loop.io(sock.fileno(), 1)
        watcher.start(watcher.stop)

    @property
    def active(self):
        return self._watcher.active

    def rearm(self):
        """Start the kept watcher again if it stopped (no system call within the loop turn that
        stopped it; at most one ``epoll_ctl`` later)."""
        watcher = self._watcher
        if not watcher.active:
            watcher.start(watcher.stop)

    def close(self):
        """Stop the watcher and release it; the socket goes back to gevent's own waits."""
        self._watcher.close()


def keep_read_registered(sock):
    """A ReadRegistration for ``sock``, or None for a socket whose reads do not go through
    gevent's read watcher (TLS sockets wait in their own ways)."""
    if type(sock) is not _GeventSocket:
        return None
    return ReadRegistration(sock)
