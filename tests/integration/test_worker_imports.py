"""What a worker loads is memory it holds for its life: a config without TLS must not load the
TLS certificate library (cryptography's native module is about 8 MB of each worker's RSS), nor
ssl and the OpenSSL libraries under it and hashlib (about 6 MB more)."""
import http.client

from harness import bootstrap, http_listener, simple_routes, static_cluster, workers


def mapped_files(process):
    return {region.path for region in process.memory_maps()}


def test_a_worker_without_tls_does_not_load_cryptography_or_openssl(proxy_factory, upstream):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}
    proxy = proxy_factory(bootstrap([http_listener("http", "listen", simple_routes(route))],
                                    [static_cluster("backend", upstream.port)]))
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port("listen"), timeout=10)
    connection.request("GET", "/")
    assert connection.getresponse().status == 200
    connection.close()
    running = workers(proxy)
    assert running
    for worker in running:
        files = mapped_files(worker)
        assert any("greenlet" in path for path in files)      # the maps are the worker's own
        assert not [path for path in files if "cryptography" in path]
        assert not [path for path in files if "libssl" in path or "libcrypto" in path
                    or "_ssl." in path or "_hashlib." in path]
