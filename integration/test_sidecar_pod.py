"""deploy/sidecar as a pod: the application's container, hotproxy's sharing its network namespace
(as uid 1337) and deploy/sidecar/iptables.sh run by an init container. The application calls
other hosts and is called by them at their and its real addresses, and never hears of the proxy;
the tests show that every one of those connections went through hotproxy all the same.
Skipped without a Docker engine."""
from __future__ import annotations

import json

import pytest

from deployments import SidecarPod, sidecar_pod
from topology import Topology, wait_until


@pytest.fixture(scope="module")
def pod(docker_client, harness_image):
    with Topology(docker_client, harness_image) as topology:
        yield sidecar_pod(topology, octet=17, base_id=17)


def seen_by_service(answer) -> dict:
    assert answer.get("status") == 200, answer
    return json.loads(answer["body"])


def logged(pod: SidecarPod, text: str) -> bool:
    return text in pod.access_log()


def test_the_applications_outbound_http_goes_through_the_sidecar_to_its_original_destination(pod):
    remote = f"{pod.remote.ip()}:8080"
    before = pod.sidecar.stats(port=15000).get("cluster.PassthroughCluster.upstream_rq_total", 0)
    seen = seen_by_service(pod.app.http(f"http://{remote}/outbound"))
    assert seen["service"] == "remote" and seen["path"] == "/outbound"
    assert "x-request-id" in seen["headers"]         # an HTTP proxy was on the way
    assert pod.sidecar.stats(port=15000)["cluster.PassthroughCluster.upstream_rq_total"] == before + 1
    wait_until(lambda: logged(pod, f'outbound http "GET {remote}/outbound" 200 - original_dst={remote} '
                                   f'upstream={remote} cluster=PassthroughCluster'),
               "the outbound access log line", pod.sidecar)


def test_other_outbound_tcp_is_passed_through_as_tcp(pod):
    remote = f"{pod.remote.ip()}:7070"
    seen = seen_by_service(pod.app.http(f"http://{remote}/tcp"))
    assert seen["service"] == "remote"
    assert "x-request-id" not in seen["headers"]      # bytes relayed, not an HTTP hop
    wait_until(lambda: logged(pod, f"outbound tcp original_dst={remote} upstream={remote} "
                                   "cluster=PassthroughCluster"), "the tcp access log line", pod.sidecar)


def test_the_metadata_address_is_a_black_hole(pod):
    before = pod.sidecar.stats(port=15000)["tcp.BlackHoleCluster.downstream_cx_total"]
    answer = pod.app.http("http://169.254.169.254/latest/meta-data/", "--timeout", "5")
    assert "error" in answer, answer                   # closed by the sidecar, not timed out
    assert "timed out" not in answer["error"], answer
    assert pod.sidecar.stats(port=15000)["tcp.BlackHoleCluster.downstream_cx_total"] == before + 1


def test_the_proxys_own_uid_is_not_redirected(pod):
    seen = seen_by_service(pod.app.http(f"http://{pod.remote.ip()}:8080/direct", user=SidecarPod.PROXY_UID))
    assert "x-request-id" not in seen["headers"]
    assert not logged(pod, "/direct")


def test_inbound_http_reaches_the_application_through_the_inbound_cluster(pod):
    app = f"{pod.app.ip()}:9080"
    seen = seen_by_service(pod.client.http(f"http://{app}/inbound"))
    assert seen["service"] == "productpage" and seen["local"] == app
    assert seen["peer"] == "127.0.0.6"                 # inbound|9080||'s bind address
    assert seen["headers"]["x-forwarded-for"] == pod.client.ip()
    assert pod.sidecar.stats(port=15000)["cluster.inbound|9080||.upstream_rq_total"] >= 1
    wait_until(lambda: logged(pod, f'inbound http "GET /inbound" 200 - from={pod.client.ip()}:'),
               "the inbound access log line", pod.sidecar)
    assert f"original_dst={app} cluster=inbound|9080||" in pod.access_log()


def test_inbound_tcp_to_another_port_is_passed_through(pod):
    app = f"{pod.app.ip()}:9090"
    seen = seen_by_service(pod.client.http(f"http://{app}/other-port"))
    assert seen["peer"] == "127.0.0.6" and seen["local"] == app
    assert "x-request-id" not in seen["headers"]
    wait_until(lambda: logged(pod, f"original_dst={app} cluster=InboundPassthroughClusterIpv4"),
               "the inbound tcp access log line", pod.sidecar)


def test_iptables_clean_lets_the_pod_talk_directly_and_a_second_install_captures_again(pod):
    """Last in the module: it takes the rules away and puts them back."""
    url = f"http://{pod.remote.ip()}:8080/after-clean"
    pod.iptables("clean")
    assert "x-request-id" not in seen_by_service(pod.app.http(url))["headers"]
    for _ in range(2):                                  # the second run replaces the first's rules
        assert "outbound TCP → :15001, uid 1337 exempt" in pod.iptables()
    assert "x-request-id" in seen_by_service(pod.app.http(url))["headers"]
