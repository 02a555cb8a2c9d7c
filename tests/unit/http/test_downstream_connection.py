"""The connection manager on an in-memory socket pair, without a listener, a worker or an
upstream: what a client sees for routes that answer by themselves, for a filter's local reply,
and for bad or pipelined requests."""
import time
from contextlib import contextmanager

import gevent
import pytest
from gevent import socket

from hotproxy.config import parse_text
from hotproxy.deadlines import Deadlines
from hotproxy.http.conn_manager import HttpConnectionManager

CONFIG = """
static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: 1}}
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: t
          route_config:
            virtual_hosts:
            - name: v
              domains: ["example.com"]
              routes:
              - match: {prefix: /direct}
                direct_response: {status: 200, body: {inline_string: hello}}
              - match: {prefix: /moved}
                redirect: {host_redirect: elsewhere.example}
          http_filters: %s
"""
ROUTER = ('[{name: envoy.filters.http.router, typed_config: {"@type": '
          'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]')
HEALTH_AND_ROUTER = (
    '[{name: envoy.filters.http.health_check, typed_config: {"@type": '
    'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck, '
    'pass_through_mode: false, headers: [{name: ":path", string_match: {exact: /healthz}}]}}, '
    + ROUTER[1:])


class NoClusters:
    def get(self, name):
        return None


def connection_manager(filters=ROUTER):
    bootstrap = parse_text(CONFIG % filters)
    config = bootstrap.listeners[0].filter_chains[0].filters[-1]
    return HttpConnectionManager(config, NoClusters(), Deadlines())


def exchange(hcm, request, responses=1, wait=0.0):
    """Serve one client connection on a socket pair; what the client read. ``wait``: seconds the
    connection stays open before the request is sent."""
    client, server = socket.socketpair()
    serving = gevent.spawn(hcm.serve, server, ("10.0.0.1", 40000))
    if wait:
        gevent.sleep(wait)
    client.sendall(request)
    received = b""
    client.settimeout(2)
    try:
        while received.count(b"HTTP/1.1 ") < responses or not _complete(received):
            data = client.recv(65536)
            if not data:
                break
            received += data
    finally:
        client.close()
        serving.join(2)
        serving.kill()
    return received


def _complete(received):
    head, _, body = received.rpartition(b"\r\n\r\n")
    length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return not length or len(body) >= int(length[-1].split(b":")[1])


def test_a_direct_response_is_answered_without_an_upstream():
    hcm = connection_manager()
    received = exchange(hcm, b"GET /direct HTTP/1.1\r\nhost: example.com\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"\r\n\r\nhello")
    assert hcm.stats.rq_direct_response == 1 and hcm.stats.downstream_rq_2xx == 1


def test_no_route_is_a_404_and_a_redirect_names_the_new_host():
    hcm = connection_manager()
    received = exchange(hcm, b"GET /nothing HTTP/1.1\r\nhost: example.com\r\n\r\n"
                             b"GET /moved HTTP/1.1\r\nhost: example.com\r\n\r\n", responses=2)
    first, second = received.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"404 Not Found")
    assert second.startswith(b"301 Moved Permanently")
    assert b"location: http://elsewhere.example/moved" in second
    assert hcm.stats.no_route == 1


def test_a_filter_answers_before_the_router():
    hcm = connection_manager(HEALTH_AND_ROUTER)
    received = exchange(hcm, b"GET /healthz HTTP/1.1\r\nhost: anything\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert hcm.stats.no_route == 0


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /direct HTTP/1.1\r\n\r\n", b"400"),                       # no Host
    (b"GET /direct HTTP/1.0\r\nhost: example.com\r\n\r\n", b"426"),  # HTTP/1.0 is not accepted
    (b"GET /direct HTTP/1.1\r\nhost: example.com\r\nbad header\r\n\r\n", b"400"),
])
def test_bad_requests_get_their_4xx_and_the_connection_closes(request_bytes, status):
    received = exchange(connection_manager(), request_bytes)
    assert received.startswith(b"HTTP/1.1 " + status)
    assert b"connection: close" in received


@contextmanager
def parked_after_one_exchange(hcm):
    """A client connection (the client's socket, and the greenlet serving it) that made one
    keep-alive exchange and was then parked by a sweep of ``hcm``'s deadlines, which tick every
    10 ms and sweep again only in a minute."""
    deadlines = hcm.deadlines = Deadlines(tick=0.01, sweep=60.0)
    deadlines.start()
    client, server = socket.socketpair()
    serving = gevent.spawn(hcm.serve, server, ("10.0.0.1", 40000))
    try:
        client.settimeout(5)
        client.sendall(b"GET /direct HTTP/1.1\r\nhost: example.com\r\n\r\n")
        received = b""
        while not received.endswith(b"hello"):
            received += client.recv(65536)
        gevent.sleep(0.05)
        deadlines.park_and_unpark(time.monotonic())
        (connection,) = hcm.connections
        assert connection.parked
        yield client, serving
    finally:
        client.close()
        serving.kill()
        deadlines.stop()


def test_a_parked_idle_connection_is_checked_every_tick_again_once_its_next_request_begins():
    """hotproxy/deadlines.py parks an idle keep-alive connection between sweeps; the request
    that wakes it must bring it back, or its request_headers_timeout would wait for the sweep."""
    text = (CONFIG % ROUTER).replace("stat_prefix: t", "stat_prefix: t\n          request_headers_timeout: 0.2s")
    config = parse_text(text).listeners[0].filter_chains[0].filters[-1]
    hcm = HttpConnectionManager(config, NoClusters(), Deadlines())
    with parked_after_one_exchange(hcm) as (client, _):
        client.sendall(b"GET /direct HTTP/1.1\r\nhost: exa")    # a head that never ends
        started = time.monotonic()
        answer = client.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 2


def test_a_closing_drain_closes_a_parked_idle_connection_at_its_close_time():
    hcm = connection_manager()
    with parked_after_one_exchange(hcm) as (_, serving):
        hcm.drain(move=False, immediate=True)
        serving.join(2)
        assert serving.dead and not hcm.connections     # it ended: not left to the next sweep
