"""A connection the arbiter hands to a worker that has begun to drain meanwhile (reloads in quick
succession) is passed on to the next generation when its listener's connections move, not
closed under the client."""
import os
import socket

from hotproxy.process.messages import HANDOFF
from hotproxy.process.worker import Worker


class Channel:
    def __init__(self):
        self.sent = []

    def send(self, message, fds=()):
        self.sent.append((message, [os.dup(fd) for fd in fds]))   # as SCM_RIGHTS would


class Listener:
    def __init__(self):
        self.adopted = []

    def adopt(self, sock, address):
        self.adopted.append(sock)


def worker(draining, moving=()):
    self = Worker.__new__(Worker)
    self.listeners = {"l": Listener()}
    self.channel = Channel()
    self.draining = draining
    self.moving = frozenset(moving)
    return self


def connection():
    client, server = socket.socketpair()
    return client, server.detach()


def test_a_serving_worker_adopts_it():
    w = worker(draining=False)
    client, fd = connection()
    w._adopt("l", fd)
    assert len(w.listeners["l"].adopted) == 1 and w.channel.sent == []


def test_a_draining_worker_passes_it_on():
    w = worker(draining=True, moving={"l"})
    client, fd = connection()
    w._adopt("l", fd)
    (message, fds), = w.channel.sent
    assert message == {"t": HANDOFF, "listener": "l"} and w.listeners["l"].adopted == []
    passed_on = socket.socket(fileno=fds[0])
    client.sendall(b"still open")
    assert passed_on.recv(64) == b"still open"
    passed_on.close()


def test_a_draining_worker_whose_listener_does_not_move_closes_it():
    w = worker(draining=True, moving=())
    client, fd = connection()
    w._adopt("l", fd)
    client.settimeout(2)
    assert w.channel.sent == [] and client.recv(64) == b""
