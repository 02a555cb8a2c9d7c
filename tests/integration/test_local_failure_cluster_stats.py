"""Cluster stats of requests the router (and the TCP proxy) fail locally, hotproxy and Envoy 1.40 on
one config: a route timeout (504 UT) and a connection failure (503 UF) count as upstream 5xx
responses of their cluster; a connection failure was never an upstream request
(``upstream_rq_total`` stays 0); no healthy host counts ``upstream_cx_none_healthy`` (and, in the
HTTP router, a 503 of the cluster), in the TCP proxy as well: its ``downstream_cx_no_route`` is
for a cluster that does not exist."""
import socket

from harness import RawClient, http_listener, refused_port, simple_routes, to_yaml, TCP_PROXY_TYPE

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
STATS = ("upstream_rq_total", "upstream_rq_completed", "upstream_rq_5xx", "upstream_rq_503",
         "upstream_rq_504", "upstream_rq_timeout", "upstream_cx_connect_fail", "upstream_cx_none_healthy")


def cluster(name, port=None, http2=False):
    endpoints = [] if port is None else [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
        "address": "127.0.0.1", "port_value": port}}}}]}]
    made = {"name": name, "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": endpoints}}
    if http2:
        made["http2_protocol_options"] = {}
    return made


def tcp_listener(cluster_name):
    return {"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:listen_tcp}"}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": TCP_PROXY_TYPE, "stat_prefix": "tcp_in", "cluster": cluster_name}}]}]}


def test_local_failures_count_as_envoy_counts_them(peer_factory):
    silent = socket.socket()     # accepts connections (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    routes = simple_routes(
        {"match": {"prefix": "/slow"}, "route": {"cluster": "slow", "timeout": "0.3s"}},
        {"match": {"prefix": "/dead"}, "route": {"cluster": "dead"}},
        {"match": {"prefix": "/empty"}, "route": {"cluster": "empty"}},
        # the paths of retrying routes and of HTTP/2 clusters count alike
        {"match": {"prefix": "/retry-dead"}, "route": {"cluster": "retry_dead", "retry_policy": {
            "retry_on": "connect-failure", "num_retries": 1}}},
        {"match": {"prefix": "/retry-empty"}, "route": {"cluster": "retry_empty", "retry_policy": {
            "retry_on": "connect-failure", "num_retries": 1}}},
        {"match": {"prefix": "/h2-dead"}, "route": {"cluster": "h2_dead"}},
        {"match": {"prefix": "/h2-empty"}, "route": {"cluster": "h2_empty"}})
    try:
        peer = peer_factory(to_yaml({"admin": ADMIN, "static_resources": {
            "listeners": [http_listener("http", "listen", routes), tcp_listener("tcp_empty")],
            "clusters": [cluster("slow", silent.getsockname()[1]), cluster("dead", refused_port()),
                         cluster("empty"), cluster("tcp_empty"), cluster("retry_dead", refused_port()),
                         cluster("retry_empty"), cluster("h2_dead", refused_port(), http2=True),
                         cluster("h2_empty", http2=True)]}}))
        for path, status in (("/slow", 504), ("/dead", 503), ("/empty", 503), ("/retry-dead", 503),
                             ("/retry-empty", 503), ("/h2-dead", 503), ("/h2-empty", 503)):
            client = RawClient(peer.port("listen"))
            try:
                assert client.request(path=path).status == status
            finally:
                client.close()
        # the harness's wait for the port was a connection already
        before = peer.counter("cluster.tcp_empty.upstream_cx_none_healthy")
        with socket.create_connection(("127.0.0.1", peer.port("listen_tcp")), timeout=10) as tcp:
            assert tcp.recv(1) == b""   # closed at once: no host to relay to
        seen = {name: {stat: peer.counter(f"cluster.{name}.{stat}") for stat in STATS}
                for name in ("slow", "dead", "empty", "tcp_empty", "retry_dead", "retry_empty", "h2_dead",
                             "h2_empty")}
        seen["tcp_empty"]["upstream_cx_none_healthy"] -= before
        failed_503 = dict.fromkeys(STATS, 0) | {"upstream_rq_completed": 1, "upstream_rq_5xx": 1,
                                                "upstream_rq_503": 1}
        seen["tcp_no_route"] = peer.counter("tcp.tcp_in.downstream_cx_no_route")
        print(peer.kind, seen)
        assert seen == {
            "slow": dict.fromkeys(STATS, 0) | {"upstream_rq_total": 1, "upstream_rq_completed": 1,
                                               "upstream_rq_5xx": 1, "upstream_rq_504": 1,
                                               "upstream_rq_timeout": 1},
            "dead": dict.fromkeys(STATS, 0) | {"upstream_rq_completed": 1, "upstream_rq_5xx": 1,
                                               "upstream_rq_503": 1, "upstream_cx_connect_fail": 1},
            "empty": dict.fromkeys(STATS, 0) | {"upstream_rq_completed": 1, "upstream_rq_5xx": 1,
                                                "upstream_rq_503": 1, "upstream_cx_none_healthy": 1},
            "tcp_empty": dict.fromkeys(STATS, 0) | {"upstream_cx_none_healthy": 1},
            "tcp_no_route": 0,
            "retry_dead": failed_503 | {"upstream_cx_connect_fail": 2},    # both attempts
            "retry_empty": failed_503 | {"upstream_cx_none_healthy": 1},
            "h2_dead": failed_503 | {"upstream_cx_connect_fail": 1},
            "h2_empty": failed_503 | {"upstream_cx_none_healthy": 1},
        }
    finally:
        silent.close()
