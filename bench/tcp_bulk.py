"""TCP bulk source and sink for bench/compare.py.

    tcp_bulk.py sink PORT              accept connections, read and discard everything
    tcp_bulk.py source PORT SECONDS    stream to PORT for SECONDS; prints "<bytes> <seconds>"
"""
import socket
import sys
import threading
import time

BLOCK = 1 << 20


def sink(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=drain, args=(conn,), daemon=True).start()


def drain(conn):
    buffer = bytearray(BLOCK)
    with conn:
        while conn.recv_into(buffer):
            pass


def source(port, seconds):
    payload = b"\0" * BLOCK
    with socket.create_connection(("127.0.0.1", port)) as conn:
        moved = 0
        started = time.monotonic()
        deadline = started + seconds
        while time.monotonic() < deadline:
            conn.sendall(payload)
            moved += len(payload)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)
        print(moved, time.monotonic() - started)


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sink(int(sys.argv[2]))
    else:
        source(int(sys.argv[2]), float(sys.argv[3]))
