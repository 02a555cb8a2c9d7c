"""deploy/front-proxy on its own hosts (a client, the proxy, service-a1, service-a2, service-b),
its config unchanged: path routing over TLS, and what clients see when a service host stops and
comes back. Skipped without a Docker engine."""
from __future__ import annotations

import json

import pytest

from deployments import front_proxy
from load import Load
from topology import Topology, wait_until


@pytest.fixture(scope="module")
def deployment(docker_client, harness_image, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("front-proxy-hosts")
    with Topology(docker_client, harness_image, rw_dirs=(str(workdir),)) as topology:
        yield front_proxy(topology, workdir, octet=15, base_id=15)


def served_by(answer) -> str:
    assert answer.get("status") == 200, answer
    return json.loads(answer["body"])["service"]


def test_the_path_chooses_the_service_over_tls(deployment):
    answer = deployment.get("/service/b/orders?id=7")
    assert served_by(answer) == "b"
    seen = json.loads(answer["body"])
    assert seen["path"] == "/orders"                          # prefix_rewrite
    assert seen["headers"]["x-forwarded-for"] == deployment.client.ip()
    assert seen["peer"] == deployment.front.ip()
    hosts = {served_by(deployment.get("/service/a/")) for _ in range(8)}
    assert hosts == {"a1", "a2"}                              # both a hosts take traffic
    assert deployment.get("/other").get("status") == 404      # no route


def test_plain_http_is_redirected_to_https(deployment):
    answer = deployment.client.http("http://front.example.com:8080/service/a/", "--connect",
                                    deployment.front.ip())
    assert answer["status"] == 301
    assert answer["headers"]["location"] == "https://front.example.com:8443/service/a/"


def healthy_a_hosts(deployment) -> int:
    return deployment.front.stats()["cluster.service_a.membership_healthy"]


def test_a_stopped_service_host_is_failed_over_with_no_5xx_once_the_health_check_notices(deployment):
    a2 = deployment.services["a2"]
    wait_until(lambda: healthy_a_hosts(deployment) == 2, "both a hosts healthy", deployment.front)
    a2.container.stop(timeout=1)
    wait_until(lambda: healthy_a_hosts(deployment) == 1, "the health check to notice", deployment.front)
    assert deployment.front.stats()["cluster.service_a.health_check.failure"] >= 1
    # the arbiter counts it, then tells the worker: round robin over a1 alone from then on
    wait_until(lambda: {served_by(deployment.get("/service/a/")) for _ in range(4)} == {"a1"},
               "the worker to leave a2 out", deployment.front)
    with Load(deployment.client, deployment.url("/service/a/"), deployment.workdir / "failover") as load:
        load.wait_for(60)
    assert load.failures() == [], load.summary()
    assert {served_by(deployment.get("/service/a/")) for _ in range(5)} == {"a1"}

    a2.container.start()                                      # back: the health check lets it in again
    wait_until(lambda: healthy_a_hosts(deployment) == 2, "a2 healthy again", deployment.front)
    wait_until(lambda: served_by(deployment.get("/service/a/")) == "a2", "a2 to take traffic again",
               deployment.front)
