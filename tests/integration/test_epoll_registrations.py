"""Issue 23's first lever, counted: a proxied HTTP/1.1 request on kept-alive connections makes no
``epoll_ctl`` call (sockio.ReadRegistration keeps both sockets registered for their lifetime).
Without it, libev asks the kernel to ADD each socket again at every wait: two failing calls per
request. strace attached to the worker counts them: a count, not a timing."""
import shutil
import signal
import subprocess
import time

import pytest

from harness import bootstrap, http_listener, simple_routes, static_cluster, workers

REQUESTS = 300

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


def _config(upstream_port):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "app"}}
    return bootstrap([http_listener("http", "listen", simple_routes(route))],
                     [static_cluster("app", upstream_port)])


def _epoll_ctl_calls_during(pid, load, tmp_path):
    """epoll_ctl calls (and failures) the process ``pid`` makes while ``load()`` runs."""
    out = tmp_path / "strace.txt"
    tracer = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=epoll_ctl", "-o", str(out), "-p", str(pid)],
                              stderr=subprocess.PIPE, text=True)
    try:
        assert "attached" in tracer.stderr.readline(), "strace could not attach (ptrace not permitted?)"
        load()
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(20)
    calls = errors = 0
    for line in out.read_text().splitlines():
        fields = line.split()
        if fields and fields[-1] == "epoll_ctl":
            calls = int(fields[3])
            errors = int(fields[4]) if len(fields) == 6 else 0
    return calls, errors


def _keep_alive_requests(client, count):
    for _ in range(count):
        response = client.request("GET", "/ping")
        assert response.status == 200


def test_kept_alive_requests_make_almost_no_epoll_ctl_calls(proxy_factory, upstream, client_factory, tmp_path):
    proxy = proxy_factory(_config(upstream.port), extra_args=("--concurrency", "1"))
    client = client_factory(proxy.port("listen"))
    _keep_alive_requests(client, 5)   # both connections are open and pooled before the count
    (worker,) = workers(proxy)
    calls, errors = _epoll_ctl_calls_during(worker.pid, lambda: _keep_alive_requests(client, REQUESTS), tmp_path)
    assert calls / REQUESTS < 0.2, f"{calls} epoll_ctl calls ({errors} failed) for {REQUESTS} requests"


def test_pipelined_requests_are_all_answered_and_registrations_recover(proxy_factory, upstream, client_factory,
                                                                       tmp_path):
    """Requests that arrive while the connection is busy make the kept watcher stop itself (the fd
    stays readable and nobody waits); every request is still answered, and the registration is
    re-armed so that the kept-alive requests after them make no epoll_ctl calls again."""
    proxy = proxy_factory(_config(upstream.port), extra_args=("--concurrency", "1"))
    client = client_factory(proxy.port("listen"))
    _keep_alive_requests(client, 3)
    client.send(b"GET /a HTTP/1.1\r\nHost: test\r\n\r\n" * 20)
    assert [client.read_response().status for _ in range(20)] == [200] * 20
    (worker,) = workers(proxy)
    calls, errors = _epoll_ctl_calls_during(worker.pid, lambda: _keep_alive_requests(client, REQUESTS), tmp_path)
    assert calls / REQUESTS < 0.2, f"{calls} epoll_ctl calls ({errors} failed) for {REQUESTS} requests"


def test_connections_closed_by_either_side_leave_the_worker_serving(proxy_factory, upstream, client_factory):
    """A client that leaves, and an upstream connection the upstream closes while pooled, stop
    their kept registrations: the worker neither spins on a dead fd nor mixes it up with the new
    connection that reuses its number."""
    proxy = proxy_factory(_config(upstream.port), extra_args=("--concurrency", "1"))
    for _ in range(30):
        client = client_factory(proxy.port("listen"))
        _keep_alive_requests(client, 2)
        client.close()
    client = client_factory(proxy.port("listen"))
    response = client.request("GET", "/ping", headers=(("Host", "test"), ("Connection", "close")))
    assert response.status == 200
    (worker,) = workers(proxy)
    time.sleep(0.5)
    assert worker.cpu_percent(interval=1.0) < 50, "the worker spins with no connection left"
