"""A worker takes what it built to serve (config, routes, code) out of the garbage collector's
reach before it says ready: a full collection then scans only what serving made. Scanning the
whole start-up heap stalled every connection for about 11 ms every few seconds (p99 at c=200:
docs/benchmarks.md)."""
import gc
import socket

import gevent

from hotproxy.accesslog.sink import AccessLogSink
from hotproxy.config.loader import parse_text
from hotproxy.process.messages import READY
from hotproxy.process.worker import Worker

CONFIG = """
static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: 1}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: t
          route_config:
            virtual_hosts:
            - {name: all, domains: ["*"], routes: [{match: {prefix: "/"}, direct_response: {status: 200}}]}
          http_filters:
          - {name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
"""


class Channel:
    def __init__(self):
        self.sent = []

    def send(self, message, fds=()):
        self.sent.append((message, gc.get_freeze_count()))

    def recv(self):
        gevent.sleep(60)


def test_a_worker_freezes_its_start_up_heap_before_it_says_ready():
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    sink_end, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    channel = Channel()
    worker = Worker(parse_text(CONFIG), {"l": listening}, channel, "w", AccessLogSink(sink_end))
    gc.unfreeze()
    running = gevent.spawn(worker.run)
    try:
        gevent.sleep(0.2)
        ready = [frozen for message, frozen in channel.sent if message.get("t") == READY]
        assert ready and ready[0] > 1000    # the config, the routes, the imported code
    finally:
        worker.stop()
        running.join(5)
        gc.unfreeze()
        peer.close()
