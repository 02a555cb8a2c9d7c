"""Socket helpers for the data path (gevent sockets)."""


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
