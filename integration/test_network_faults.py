"""Faults between the tiers of deploy/double-proxy on separate hosts, and what the client sees:
each failed request is one of the documented errors (docs/integration.md, "What a client sees"),
the edge keeps serving, and requests succeed again once the fault is gone. Skipped without a
Docker engine; the netem scenario also needs the kernel's sch_netem in the engine's host."""
from __future__ import annotations

import re

import pytest

from deployments import double_proxy
from load import Load
from topology import Topology, wait_until

# What the edge answers while the inner tier cannot be reached (deploy/double-proxy/edge.yaml),
# by status, with the response flags each may carry:
DOCUMENTED = {
    # UF: no connection within connect_timeout (1 s); URX: its 2 retries ran out too;
    # UC: a connection the restarted inner tier reset; UH: the inner tier's name no longer
    # resolves (the DNS refresh after a disconnect): no host at all
    "503": {"UF", "URX", "UC", "UH"},
    "504": {"UT"},   # a pooled connection gone silent: the route's 5 s timeout
    # the fault came between the response's headers and its body: the status had gone out, so
    # the edge can only close the client's connection mid-body: at the route's timeout (UT), or
    # when the inner tier's connection closed early (UPE, as Envoy 1.40 flags it; UC on a reset)
    "200": {"UT", "UPE", "UC"},
}
CUT_MID_BODY = "error: IncompleteRead"  # how http.client reports that closed connection
ACCESS_LOG = re.compile(r'"GET (\S+)" (\d{3}) (\S+) ')


@pytest.fixture(scope="module")
def deployment(docker_client, harness_image, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("network-faults")
    with Topology(docker_client, harness_image, rw_dirs=(str(workdir),)) as topology:
        yield double_proxy(topology, workdir, octet=13, base_id=13,
                           inner_options={"cap_add": ["NET_ADMIN"]})


def edge_outcomes(deployment, path):
    """(status, response flags) of each request for ``path`` in the edge's access log."""
    return [(status, flags) for logged, status, flags in ACCESS_LOG.findall(deployment.edge_log.read_text())
            if logged == path]


def assert_recovers(deployment, path):
    wait_until(lambda: deployment.get(path, "--timeout", "8").get("status") == 200,
               "the edge to reach the inner tier again", deployment.edge, timeout=60)
    answers = [deployment.get(path) for _ in range(5)]
    assert [answer.get("status") for answer in answers] == [200] * 5, answers


def run_fault(deployment, name, cause, cure):
    """Load through the edge while ``cause()`` holds, then ``cure()``; returns what the client
    saw and the edge logged during the fault."""
    path = f"/{name}"
    edge_arbiter = deployment.edge.arbiter_pid()
    with Load(deployment.client, deployment.url(path), deployment.workdir / name, interval=0.05) as load:
        load.wait_for(10)
        cause()
        load.wait_for(load.count() + 6, timeout=90)  # a few requests meet the fault
        cure()
        assert_recovers(deployment, path)
    assert deployment.edge.arbiter_pid() == edge_arbiter, "the edge restarted"
    return load, edge_outcomes(deployment, path)


def failed_requests(logged):
    return {(status, flags) for status, flags in logged if flags != "-"}


def assert_all_documented(failed):
    for status, flags in failed:
        assert status in DOCUMENTED and set(flags.split(",")) <= DOCUMENTED[status], (status, flags)


def assert_client_saw_only_documented_errors(load):
    """Every request had an answer from the edge (never a refused or reset connection), or its
    body was cut after the headers."""
    for outcome in load.failures():
        assert outcome in DOCUMENTED or outcome.startswith(CUT_MID_BODY), load.summary()


def assert_documented(load, logged):
    assert_client_saw_only_documented_errors(load)
    failed = failed_requests(logged)
    assert failed, f"the fault was never seen: {load.summary()}"
    assert_all_documented(failed)


def test_cutting_the_network_between_the_tiers_gives_the_documented_errors_and_recovers(deployment):
    inner = deployment.inner
    load, logged = run_fault(
        deployment, "cut",
        lambda: deployment.topology.disconnect("back", inner),
        lambda: deployment.topology.reconnect("back", inner, aliases=["inner.internal"]))
    assert_documented(load, logged)


def test_a_docker_restart_of_the_inner_tier_is_survived_by_the_edge(deployment):
    inner = deployment.inner
    started = inner.container.attrs["State"]["StartedAt"]
    load, logged = run_fault(deployment, "restart", lambda: inner.container.restart(timeout=2),
                             lambda: None)
    inner.container.reload()
    assert inner.container.attrs["State"]["StartedAt"] != started
    # failures, if any, are the documented ones: the edge never dropped its client
    assert_client_saw_only_documented_errors(load)
    assert_all_documented(failed_requests(logged))


def test_netem_loss_between_the_tiers_gives_the_documented_errors_and_recovers(deployment):
    inner = deployment.inner
    probe, output = inner.run("tc", "qdisc", "add", "dev", "eth0", "root", "netem", "loss", "100%")
    if probe != 0:
        pytest.skip(f"tc netem does not work in this engine's containers: {output}")
    inner.run("tc", "qdisc", "del", "dev", "eth0", "root")
    load, logged = run_fault(
        deployment, "netem",
        lambda: inner.run("tc", "qdisc", "add", "dev", "eth0", "root", "netem", "loss", "100%"),
        lambda: inner.run("tc", "qdisc", "del", "dev", "eth0", "root"))
    assert_documented(load, logged)
