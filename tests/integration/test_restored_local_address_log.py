"""%DOWNSTREAM_LOCAL_ADDRESS% is the local address a listener filter restored (original_dst
behind an iptables REDIRECT, proxy_protocol's header), as Envoy logs it, and
%DOWNSTREAM_DIRECT_LOCAL_ADDRESS% the socket's own; both proxies run the same config
(peer_factory). A sidecar's access log otherwise shows its own port 15001 for every
connection (found by integration/test_sidecar_pod.py)."""
import socket

from harness import (HCM_TYPE, ROUTER_TYPE, TCP_PROXY_TYPE, bootstrap, read_lines, simple_routes,
                     static_cluster)

FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
PROXY_PROTOCOL = {"name": "envoy.filters.listener.proxy_protocol", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"}}
FORMAT = ("local=%DOWNSTREAM_LOCAL_ADDRESS% direct=%DOWNSTREAM_DIRECT_LOCAL_ADDRESS% "
          "port=%DOWNSTREAM_LOCAL_PORT% direct_port=%DOWNSTREAM_DIRECT_LOCAL_PORT%\n")
HEADER = b"PROXY TCP4 10.0.0.1 10.9.8.7 5555 2222\r\n"


def access_log(path):
    return [{"name": "log", "typed_config": {"@type": FILE_LOG, "path": str(path),
                                             "log_format": {"text_format_source": {"inline_string": FORMAT}}}}]


def listener(name, port_name, network_filter):
    return {"name": name,
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": f"{{port:{port_name}}}"}},
            "listener_filters": [PROXY_PROTOCOL], "filter_chains": [{"filters": [network_filter]}]}


def config(tmp_path, sink_port):
    hcm = {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": HCM_TYPE, "stat_prefix": "http", "access_log": access_log(tmp_path / "http.log"),
        "route_config": simple_routes({"match": {"prefix": "/"},
                                       "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}),
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}]}}
    tcp = {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": TCP_PROXY_TYPE, "stat_prefix": "tcp", "cluster": "sink",
        "access_log": access_log(tmp_path / "tcp.log")}}
    return bootstrap([listener("http", "listen_http", hcm), listener("tcp", "listen_tcp", tcp)],
                     [static_cluster("sink", sink_port)])


def test_the_restored_destination_is_the_logged_local_address(peer_factory, tmp_path):
    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen(8)
    try:
        peer = peer_factory(config(tmp_path, sink.getsockname()[1]))
        with socket.create_connection(("127.0.0.1", peer.port("listen_http")), timeout=5) as sock:
            sock.sendall(HEADER + b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        with socket.create_connection(("127.0.0.1", peer.port("listen_tcp")), timeout=5) as sock:
            sock.sendall(HEADER + b"bytes")
            upstream, _ = sink.accept()
            upstream.close()
        for name, port_name in (("http.log", "listen_http"), ("tcp.log", "listen_tcp")):
            direct = f"127.0.0.1:{peer.port(port_name)}"
            assert read_lines(tmp_path / name, 1, timeout=15) == [
                f"local=10.9.8.7:2222 direct={direct} port=2222 direct_port={peer.port(port_name)}"]
    finally:
        sink.close()
