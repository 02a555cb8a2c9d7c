"""deploy/double-proxy on three hosts and two networks (client and edge; edge, inner tier and
service), its configs unchanged: what a client sees through both tiers, and across a reload and
a hot restart of the edge. Skipped without a Docker engine."""
from __future__ import annotations

import json

import pytest

from deployments import double_proxy
from load import Load
from topology import Topology, wait_until


@pytest.fixture(scope="module")
def deployment(docker_client, harness_image, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("double-proxy-hosts")
    with Topology(docker_client, harness_image, rw_dirs=(str(workdir),)) as topology:
        yield double_proxy(topology, workdir, octet=11, base_id=11)


def test_requests_flow_over_mutual_tls_and_the_service_sees_the_clients_address(deployment):
    answer = deployment.get("/hello")
    assert answer.get("status") == 200, answer
    seen = json.loads(answer["body"])
    assert seen["service"] == "service" and seen["path"] == "/hello"
    # the connection came from the inner tier's host, the request from the client's
    assert seen["peer"] == deployment.inner.ip()
    assert seen["headers"]["x-forwarded-for"] == deployment.client.ip()
    assert seen["headers"]["x-forwarded-proto"] == "https"
    # the inner tier saw the edge's certificate (mutual TLS) and says so
    assert "URI=spiffe://example.com/edge" in seen["headers"]["x-forwarded-client-cert"]


def test_the_inner_tier_refuses_a_client_that_skips_the_edge(deployment):
    answer = deployment.client.http("https://inner.internal:11443/", "--connect", deployment.inner.ip("back"),
                                    "--cacert", "/etc/hotproxy/certs/ca.pem", "--timeout", "3")
    assert "error" in answer  # the client host has no route to the inner tier's network at all
    answer = deployment.edge.http("https://inner.internal:11443/", "--connect", deployment.inner.ip(),
                                  "--cacert", "/etc/hotproxy/certs/ca.pem", "--timeout", "3")
    assert "error" in answer, answer  # no client certificate: the handshake or first read fails


def _serving_generations(log_path):
    return log_path.read_text(errors="replace").count("serving (")


def test_a_reload_and_a_hot_restart_of_the_edge_under_load_lose_no_request(deployment):
    edge = deployment.edge
    first_arbiter = edge.arbiter_pid()
    with Load(deployment.client, deployment.url("/load"), deployment.workdir / "reload") as load:
        load.wait_for(20)
        edge.kill(first_arbiter, "HUP")                     # reload: a new worker generation
        wait_until(lambda: _serving_generations(deployment.edge_log) >= 1, "the edge's reload", edge)
        load.wait_for(load.count() + 20)
        edge.kill(first_arbiter, "USR2")                    # hot restart: a new arbiter
        wait_until(lambda: edge.arbiter_pid() != first_arbiter, "the edge's new arbiter", edge)
        wait_until(lambda: edge.run("kill", "-0", str(first_arbiter))[0] != 0,
                   "the edge's old arbiter to exit", edge)
        load.wait_for(load.count() + 20)
    assert load.failures() == [], load.summary()
    assert load.count() > 60
    assert edge.stats()["server.hot_restart_epoch"] == 1
