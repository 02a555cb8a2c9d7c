"""Circuit-breaker overflow replies, differentially against Envoy 1.40: with one connection, one
request and one pending request allowed, a third concurrent request is answered at once with
503, ``x-envoy-overloaded: true`` as the first header and Envoy's body, on a plain route and on a
retrying one (probed: Envoy answers both alike)."""
import threading
import time

import pytest

from harness import RawClient, http_listener, simple_routes, to_yaml
from raw_upstream import RecordingUpstream

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
OVERFLOW_BODY = b"upstream connect error or disconnect/reset before headers. reset reason: overflow"


def slow(request):
    def answer(conn):
        time.sleep(1.5)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nslow")
    return answer


def config(port, retry):
    action = {"cluster": "small"}
    if retry:
        action["retry_policy"] = {"retry_on": "5xx,reset", "num_retries": 1}
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", simple_routes({"match": {"prefix": "/"}, "route": action}))],
        "clusters": [{"name": "small", "connect_timeout": "1s",
                      "circuit_breakers": {"thresholds": [{"max_connections": 1, "max_pending_requests": 1,
                                                           "max_requests": 1}]},
                      "load_assignment": {"cluster_name": "small", "endpoints": [{"lb_endpoints": [
                          {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                       "port_value": port}}}}]}]}}]}})


@pytest.mark.parametrize("retry", [False, True], ids=["plain", "retrying"])
def test_an_overflow_is_answered_as_envoy_answers_it(peer_factory, retry):
    upstream = RecordingUpstream(slow)
    try:
        peer = peer_factory(config(upstream.port, retry))
        responses = []

        def one(path):
            client = RawClient(peer.port("listen"))
            try:
                responses.append(client.request(path=path))
            finally:
                client.close()

        threads = []
        for index in range(2):       # one in flight, one pending
            threads.append(threading.Thread(target=one, args=(f"/{index}",)))
            threads[-1].start()
            deadline = time.monotonic() + 5
            while len(upstream.requests) < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.2)
        one("/overflow")
        for thread in threads:
            thread.join()
        statuses = sorted(r.status for r in responses)
        assert statuses[0] == 200 and statuses[-1] == 503
        # (Envoy queues the second request as pending and answers it 200; which of the two
        # later ones overflow is the cluster's circuit breakers' business, not the reply's)
        for overflowed in responses:
            if overflowed.status != 503:
                continue
            assert overflowed.header_names() == ["x-envoy-overloaded", "content-length",
                                                 "content-type", "date", "server"]
            assert overflowed.header("x-envoy-overloaded") == "true"
            assert overflowed.body == OVERFLOW_BODY
    finally:
        upstream.close()
