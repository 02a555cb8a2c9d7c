"""The operator's signals are the arbiter's: sent to every process of the service, as
``systemctl kill -s USR2 hotproxy`` without ``--kill-whom=main`` does, they end no worker, flusher
or xDS process (their default actions would), and requests go on being served."""
import signal
import time

import psutil

from harness import RawClient, http_listener, simple_routes, to_yaml

SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU)


def test_a_signal_to_every_child_ends_none_of_them(proxy_factory, upstream, tmp_path):
    routes = simple_routes({"match": {"prefix": "/"}, "route": {"cluster": "backend"}})
    listener = http_listener("http", "listen", routes)
    listener["filter_chains"][0]["filters"][0]["typed_config"]["access_log"] = [{
        "name": "envoy.access_loggers.file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(tmp_path / "access.log")}}]
    config = to_yaml({
        "layered_runtime": {"layers": [{"name": "rtds", "rtds_layer": {"name": "r", "rtds_config": {
            "path_config_source": {"path": str(tmp_path / "runtime.json")}}}}]},
        "node": {"id": "n", "cluster": "c"},
        "static_resources": {"listeners": [listener], "clusters": [{
            "name": "backend", "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1",
                                                             "port_value": upstream.port}}}}]}]}}]}})
    (tmp_path / "runtime.json").write_text('{"version_info": "1", "resources": [{"@type": '
                                           '"type.googleapis.com/envoy.service.runtime.v3.Runtime", '
                                           '"name": "r", "layer": {}}]}')
    proxy = proxy_factory(config)
    port = proxy.port("listen")
    assert RawClient(port).request().status == 200
    children = psutil.Process(proxy.process.pid).children()
    titles = sorted(" ".join(child.cmdline())[:40] for child in children)
    assert any("worker" in title for title in titles) and any("flusher" in title for title in titles)
    assert any("xds" in title for title in titles), titles
    for signum in SIGNALS:
        for child in children:
            child.send_signal(signum)
        time.sleep(0.2)
    assert all(child.is_running() and child.status() != psutil.STATUS_STOPPED for child in children)
    assert RawClient(port).request().status == 200
