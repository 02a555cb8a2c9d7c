"""A TCP relay's idle timeout when the deadline checker parks it between sweeps: its deadline only
moves later, so it may stay parked while bytes flow and still times out on time once they stop."""
import time

import gevent
from gevent import socket

from hotproxy.deadlines import Deadlines
from hotproxy.network.pump import Relay


def test_a_parked_relay_times_out_an_idle_timeout_after_its_last_bytes():
    deadlines = Deadlines(tick=0.01, sweep=0.3)
    deadlines.start()
    client, downstream = socket.socketpair()
    upstream, service = socket.socketpair()
    relay = Relay(downstream, upstream, deadlines, idle_timeout=0.75)
    running = gevent.spawn(relay.run)
    try:
        gevent.sleep(0.15)
        assert relay.parked
        gevent.sleep(0.25)
        client.sendall(b"ping")             # pushes the idle timeout on, parked all the while
        service.settimeout(2)
        assert service.recv(16) == b"ping"
        last_bytes = time.monotonic()
        running.join(3)
        ended = time.monotonic()
        assert relay.timed_out and running.dead
        # not before its timeout, and not a sweep late (the sweeps fall 0.3 s apart)
        assert last_bytes + 0.75 <= ended <= last_bytes + 0.75 + 0.12
    finally:
        running.kill()
        deadlines.stop()
        for sock in (client, downstream, upstream, service):
            sock.close()
