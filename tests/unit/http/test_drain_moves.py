"""A reload moves a generation's keep-alive connections one at a time (connection_ending.move_times),
not all at once: the new worker takes each moved connection's set-up and a new upstream
connection for its next request, and fifty at once stalled every one of their requests."""
import os
import time

import gevent
from gevent import socket

from hotproxy.http import connection_ending
from hotproxy.http.connection_ending import move_times

from test_downstream_connection import connection_manager

REQUEST = b"GET /direct HTTP/1.1\r\nHost: example.com\r\n\r\n"


def test_moves_are_a_gap_apart():
    assert move_times(10.0, 3) == [10.0, 10.0 + connection_ending.MOVE_GAP_S, 10.0 + 2 * connection_ending.MOVE_GAP_S]
    assert move_times(10.0, 0) == []


def test_many_moves_fit_in_the_window():
    times = move_times(0.0, 10_000)
    assert times[0] == 0.0 and times[-1] < connection_ending.MOVE_WINDOW_S
    gaps = {round(later - earlier, 9) for earlier, later in zip(times, times[1:])}
    assert gaps == {round(connection_ending.MOVE_WINDOW_S / 10_000, 9)}


def served(hcm, count):
    """``count`` keep-alive connections, each after one answered request."""
    clients = []
    for _ in range(count):
        client, server = socket.socketpair()
        gevent.spawn(hcm.serve, server, ("10.0.0.1", 40000))
        client.sendall(REQUEST)
        assert b"hello" in client.recv(65536)
        clients.append(client)
    return clients


def test_idle_connections_move_one_at_a_time(monkeypatch):
    monkeypatch.setattr(connection_ending, "MOVE_GAP_S", 0.1)
    hcm = connection_manager()
    clients = served(hcm, 4)
    moved = []
    hcm.hand_off = lambda sock: moved.append(time.monotonic())
    started = time.monotonic()
    hcm.drain(move=True)
    gevent.sleep(0.05)
    assert len(moved) == 1          # the first at once, the others later
    gevent.sleep(0.4)
    assert len(moved) == 4
    offsets = [at - started for at in moved]
    assert all(later - earlier > 0.05 for earlier, later in zip(offsets, offsets[1:])), offsets
    for client in clients:
        client.close()


def test_a_request_before_its_move_is_answered_here_and_the_connection_moves_after(monkeypatch):
    monkeypatch.setattr(connection_ending, "MOVE_GAP_S", 0.15)
    hcm, next_generation = connection_manager(), connection_manager()
    clients = served(hcm, 3)
    moved = []

    def hand_off(sock):             # as the worker does: the next generation serves it now
        moved.append(sock)
        gevent.spawn(next_generation.serve, socket.socket(fileno=os.dup(sock.fileno())), ("10.0.0.1", 40000))

    hcm.hand_off = hand_off
    hcm.drain(move=True)
    gevent.sleep(0.05)
    for client in clients:          # one has moved; this generation answers the other two
        client.sendall(REQUEST)
        client.settimeout(2)
        assert b"hello" in client.recv(65536)
    assert len(moved) == 1 and len(hcm.connections) == 2
    gevent.sleep(0.5)
    assert len(moved) == 3 and not hcm.connections
    for client in clients:          # served by the next generation now
        client.sendall(REQUEST)
        assert b"hello" in client.recv(65536)
        client.close()


def test_a_connection_that_ended_before_its_turn_is_skipped(monkeypatch):
    monkeypatch.setattr(connection_ending, "MOVE_GAP_S", 0.15)
    hcm = connection_manager()
    clients = served(hcm, 3)
    moved = []
    hcm.hand_off = lambda sock: moved.append(sock)
    hcm.drain(move=True)
    gevent.sleep(0.05)              # the first has moved; the other two wait for their turn
    assert len(moved) == 1
    for client in clients:          # the two left end before their turn
        client.close()
    gevent.sleep(0.5)
    assert len(moved) == 1
