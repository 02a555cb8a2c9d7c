"""%UPSTREAM_REQUEST_ATTEMPT_COUNT% and %RESPONSE_FLAGS% in access logs, hotproxy and Envoy 1.40
on one config: 1 once a cluster is chosen (even without a host), every attempt of a retried
request, 0 without a route; flags in the order they were set (URX,UF)."""
import time

from harness import http_listener, refused_port, simple_routes, to_yaml
from raw_upstream import RecordingUpstream
from harness import RawClient

FORMAT = "%REQ(:PATH)% %RESPONSE_CODE% %UPSTREAM_REQUEST_ATTEMPT_COUNT% %RESPONSE_FLAGS%\n"
FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
ADMIN = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}}


def cluster(name, port=None):
    endpoints = [] if port is None else [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
        "address": "127.0.0.1", "port_value": port}}}}]}]
    return {"name": name, "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": endpoints}}


def test_attempt_counts_and_flag_order_match_envoy(peer_factory, tmp_path):
    ok = RecordingUpstream()
    log = tmp_path / "access.log"
    routes = simple_routes(
        {"match": {"prefix": "/empty"}, "route": {"cluster": "empty"}},
        {"match": {"prefix": "/dead"}, "route": {"cluster": "dead", "retry_policy": {
            "retry_on": "connect-failure", "num_retries": 2}}},
        {"match": {"prefix": "/ok"}, "route": {"cluster": "ok"}})
    listener = http_listener("http", "listen", routes, hcm_extra={"access_log": [{
        "name": "envoy.access_loggers.file",
        "typed_config": {"@type": FILE_LOG, "path": str(log), "log_format": {"text_format_source": {
            "inline_string": FORMAT}}}}]})
    try:
        peer = peer_factory(to_yaml({"admin": ADMIN, "static_resources": {
            "listeners": [listener],
            "clusters": [cluster("empty"), cluster("dead", refused_port()), cluster("ok", ok.port)]}}))
        for path in ("/empty", "/dead", "/ok", "/none"):
            client = RawClient(peer.port("listen"))
            try:
                client.request(path=path)
            finally:
                client.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = log.read_text().splitlines() if log.exists() else []
            if len(lines) >= 4:
                break
            time.sleep(0.1)
        assert lines == ["/empty 503 1 UH", "/dead 503 3 URX,UF", "/ok 200 1 -", "/none 404 0 NR"]
    finally:
        ok.close()
