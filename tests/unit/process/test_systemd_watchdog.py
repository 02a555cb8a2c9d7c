"""sd_notify's watchdog (process/systemd.py): WATCHDOG=1 reaches systemd's socket at half of
WATCHDOG_USEC while the arbiter's loop turns, and never when the loop does not."""
import socket

import pytest

from hotproxy.process.systemd import Notifier, Watchdog


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    yield sock
    sock.close()


def received(sock):
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096))
        except BlockingIOError:
            return messages


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_pings_at_half_the_timeout_while_the_loop_turns(notify_socket, tmp_path):
    clock = Clock()
    watchdog = Watchdog(Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "4000000"}), clock)
    sent = []
    for _ in range(17):              # the loop turns every 0.5 s for 8 s
        watchdog.tick()
        sent += [clock.now for _ in received(notify_socket)]
        clock.now += 0.5
    assert sent == [100.0, 102.0, 104.0, 106.0, 108.0]


def test_a_loop_that_stops_turning_stops_the_pings(notify_socket, tmp_path):
    clock = Clock()
    watchdog = Watchdog(Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "2000000"}), clock)
    watchdog.tick()
    assert received(notify_socket) == [b"WATCHDOG=1"]
    clock.now += 30                  # stuck: no tick, so nothing is sent however long it lasts
    assert received(notify_socket) == []
    watchdog.tick()                  # it turns again: at once
    assert received(notify_socket) == [b"WATCHDOG=1"]


@pytest.mark.parametrize("environ", [
    {"WATCHDOG_USEC": "2000000"},                       # no NOTIFY_SOCKET: not under systemd
    {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "0"},
    {"NOTIFY_SOCKET": "/nonexistent"},                  # WatchdogSec= not set
])
def test_no_watchdog_no_pings(environ):
    assert not Watchdog(Notifier(environ)).enabled


def test_an_abstract_notify_socket_is_addressed_as_systemd_names_it():
    assert Notifier({"NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify"}).address == \
        "\0/org/freedesktop/systemd1/notify"
