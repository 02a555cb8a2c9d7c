"""Raw HTTP/1.1 exchanges for integration tests: the bytes sent as given on a fresh connection,
and everything that came back."""
import socket


def exchange(port, request, timeout=10):
    """``request`` on a fresh connection; everything the proxy sent back until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        while True:
            data = sock.recv(65536)
            if not data:
                return received
            received += data


def exchange_until_quiet(port, request, wait=1.0):
    """``request`` on a fresh connection; everything that came back until the peer closed the
    connection, reset it, or was quiet for ``wait`` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        out = b""
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                out += data
        except (socket.timeout, ConnectionResetError):
            pass
    return out
