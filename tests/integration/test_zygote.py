"""Reloads start their workers as forks of the zygote (process/zygote.py), the arbiter's own
children: the first reload starts it and waits for it to import, rather than start each of its
workers by fork+exec. A killed zygote is started again by the next reload that needs it."""
import os
import signal
import time

import psutil

from harness import (admin_counter, http_listener, process_title, reload, rewrite, simple_routes, to_yaml,
                     wait_for_log, workers)


def direct_config(body):
    routes = simple_routes({"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": body}}})
    return to_yaml({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
                    "static_resources": {"listeners": [http_listener("http", "listen", routes)]}})


def zygote_of(proxy):
    for child in psutil.Process(proxy.process.pid).children():
        if process_title(child).startswith("hotproxy: zygote"):
            return child
    return None


def generation_workers(proxy, generation):
    return [w for w in workers(proxy) if f"[gen {generation}]" in process_title(w)]


def wait_until(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("never happened")


def test_a_reload_forks_its_workers_from_the_zygote(proxy_factory, client_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "2"])
    assert zygote_of(proxy) is None         # a proxy that never reloads never runs one
    rewrite(proxy, direct_config("B"))
    reload(proxy, 1)        # starts the zygote, and forks its workers once it has imported
    zygote = wait_until(lambda: zygote_of(proxy))
    assert proxy.log().count("forked by the zygote)") == 2
    rewrite(proxy, direct_config("C"))
    reload(proxy, 2)
    wait_for_log(proxy, "forked by the zygote)", count=4)
    new = wait_until(lambda: len(generation_workers(proxy, 3)) == 2 and generation_workers(proxy, 3))
    # the arbiter's children (it reaps them, and their death signal is armed on it)
    assert {w.ppid() for w in new} == {proxy.process.pid}
    for _ in range(6):
        assert client_factory(proxy.port("listen")).request().body == b"C"
    proxy.process.kill()            # no chance to stop anything: the death signals must
    _gone, alive = psutil.wait_procs([zygote, *new], timeout=5)
    assert not alive


def test_a_killed_zygote_is_started_again_by_the_next_reload(proxy_factory, client_factory):
    proxy = proxy_factory(direct_config("A"), extra_args=["--concurrency", "1"])
    reload(proxy, 1)
    zygote = wait_until(lambda: zygote_of(proxy))
    wait_for_log(proxy, "the zygote is ready")
    os.kill(zygote.pid, signal.SIGKILL)
    psutil.wait_procs([zygote], timeout=5)
    wait_for_log(proxy, "the zygote exited with")
    rewrite(proxy, direct_config("B"))
    reload(proxy, 2)
    assert client_factory(proxy.port("listen")).request().body == b"B"
    assert wait_until(lambda: admin_counter(proxy.port("admin"), "zygote.respawned")) == 1
    back = wait_until(lambda: (z := zygote_of(proxy)) and z.pid != zygote.pid and z)
    assert back.is_running()
    wait_for_log(proxy, "the zygote is ready", count=2)
    assert proxy.log().count("forked by the zygote)") == 2     # reload 2's worker: by the new one
    assert "by fork+exec" not in proxy.log()
