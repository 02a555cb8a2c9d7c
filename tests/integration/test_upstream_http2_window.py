"""The connection-level flow-control window of a multiplexed HTTP/2 upstream connection when h2
clients leave mid-response, against hotproxy and Envoy 1.40: the response data the proxy read
from the upstream for a stream its client abandoned must still be given back to the upstream
connection's window, or each abandoned stream shrinks it for good. Once it is used up, the
upstream can send nothing more on that connection, and every later request through it hangs.

bench/h2_compare.py found this in hotproxy: on an h2 upstream it stopped answering after a few
h2load runs of 100 streams at 64 KiB (each timed run ends with its streams in flight); nginx
still answered each new request's HEADERS on the upstream connection, but no DATA."""
import time

from h2_client import H2Client
import test_upstream_http2
from test_upstream_http2 import BIG, config, get

h2_upstream = test_upstream_http2.h2_upstream     # the fixture, for this module's test

#: h2 clients that leave with STREAMS responses of 1 MiB each in flight, ROUNDS times: more than
#: the 24 MiB window both proxies give an upstream connection
ROUNDS, STREAMS = 5, 10


def abandon_big_responses(port, round_):
    """One h2 connection asks for STREAMS big bodies, takes their heads but grants no window past
    the first 64 KiB (the proxy reads on from the upstream for them), and goes away."""
    client = H2Client(port, auto_acknowledge=False)
    try:
        streams = [client.start("GET", "/big") for _ in range(STREAMS)]
        client.read_until(lambda: all(client.responses[s].status for s in streams))
        statuses = [client.responses[s].status for s in streams]
        assert statuses == [200] * STREAMS, f"round {round_}: {statuses}"
        time.sleep(0.2)
    finally:
        client.close()


def test_clients_leaving_mid_response_do_not_use_up_the_upstream_window(peer_factory, h2_upstream):
    server = h2_upstream()
    peer = peer_factory(config(server.port))
    port = peer.port("listen")
    for round_ in range(ROUNDS):
        abandon_big_responses(port, round_)
    status, _, body = get(port, "/big")
    assert status == 200 and len(body) == BIG
