"""XdsClient over real gRPC streams to an in-process control plane: the requests it sends
(ACK, NACK, names, node), one ADS stream for several types, per-type services, delta,
reconnection with the versions held, and the initial fetch timeout."""
import pytest
from xds_client_fakes import (FakeControlPlane, Recorder, assignment, cluster, delta_response,
                              listener, sotw_response)

from hotproxy.xds import type_urls
from hotproxy.xds.client import XdsClient
from hotproxy.xds.sources import GrpcSource

LDS, CDS, EDS = (t.type_url for t in (type_urls.LISTENER, type_urls.CLUSTER, type_urls.ENDPOINT))
NODE = {"id": "proxy-1", "cluster": "edge", "metadata": {"k": "v"}}


@pytest.fixture
def control_plane():
    server = FakeControlPlane()
    yield server
    server.stop()


def source(control_plane, **fields):
    fields = {"backoff_base_s": 0.05, "backoff_max_s": 0.2, "initial_fetch_timeout_s": 5.0,
              **fields}
    return GrpcSource("127.0.0.1", control_plane.port, **fields)


@pytest.fixture
def make_client():
    clients = []

    def make(recorder, subscriptions):
        client = XdsClient(NODE, recorder.on_update, recorder.on_event)
        for type_url, src, names in subscriptions:
            client.subscribe(type_url, src, names)
        client.start()
        clients.append(client)
        return client
    yield make
    for client in clients:
        client.stop()


def requests_by_type(control_plane, count):
    found = {}
    for _ in range(count):
        method, request = control_plane.next_request()
        found[request.type_url] = (method, request)
    return found


def test_ads_carries_several_types_and_acks_or_nacks_each(control_plane, make_client):
    recorder = Recorder(lambda u: "bad listener" if u.version_info == "l2" else None)
    ads = source(control_plane, ads=True)
    make_client(recorder, [(LDS, ads, None), (CDS, ads, None)])
    first = requests_by_type(control_plane, 2)
    assert {m for m, _ in first.values()} == {type_urls.ads_method(False)}
    assert len(control_plane.streams) == 1
    for _, request in first.values():
        assert (request.version_info, request.response_nonce) == ("", "")
    # the node goes on every request (set_node_on_first_message_only is false)
    assert all(r.node.id == "proxy-1" and r.node.cluster == "edge" for _, r in first.values())

    control_plane.send(sotw_response(LDS, "l1", "n1", listener("a")))
    assert sorted(recorder.next_update().resources) == ["a"]
    _, ack = control_plane.next_request()
    assert (ack.type_url, ack.version_info, ack.response_nonce) == (LDS, "l1", "n1")
    assert not ack.HasField("error_detail")

    control_plane.send(sotw_response(LDS, "l2", "n2", listener("b")))
    assert sorted(recorder.next_update().resources) == ["b"]
    _, nack = control_plane.next_request()
    assert (nack.version_info, nack.response_nonce) == ("l1", "n2")
    assert (nack.error_detail.code, nack.error_detail.message) == (13, "bad listener")

    # the NACKed set was not applied: the next update is measured against {a}
    control_plane.send(sotw_response(LDS, "l3", "n3", listener("a"), listener("c")))
    update = recorder.next_update()
    assert (update.added_or_changed, update.removed) == (("c",), ())
    assert control_plane.next_request()[1].version_info == "l3"

    assert recorder.wait_event(lambda e: e["event"] == "connected")["type_urls"] == [CDS, LDS]
    nack_event = recorder.wait_event(lambda e: e["event"] == "nack")
    assert (nack_event["type_url"], nack_event["error"]) == (LDS, "bad listener")
    assert [e["version_info"] for e in recorder.named("ack")] == ["l1", "l3"]
    assert recorder.wait_event(lambda e: e["event"] == "initial_fetch_done")["reason"] == "update"


def test_on_update_may_subscribe_and_names_can_change(control_plane, make_client):
    ads = source(control_plane, ads=True)
    holder = {}

    def on_update(update):
        if update.type_url == CDS:
            holder["client"].subscribe(EDS, ads, sorted(update.resources))

    recorder = Recorder(on_update)
    holder["client"] = client = make_client(recorder, [(CDS, ads, None)])
    control_plane.next_request()
    control_plane.send(sotw_response(CDS, "c1", "n1", cluster("x"), cluster("y")))
    first = requests_by_type(control_plane, 2)      # the EDS subscription, then the CDS ACK
    eds = first[EDS][1]
    assert list(eds.resource_names) == ["x", "y"] and eds.version_info == ""

    control_plane.send(sotw_response(EDS, "e1", "n2", assignment("x"), assignment("y")))
    assert control_plane.next_request()[1].version_info == "e1"
    client.subscribe(EDS, ads, ["y", "z"])
    _, change = control_plane.next_request()
    assert list(change.resource_names) == ["y", "z"]
    assert (change.version_info, change.response_nonce) == ("e1", "n2")


def test_a_type_of_its_own_uses_its_service(control_plane, make_client):
    recorder = Recorder()
    make_client(recorder, [(LDS, source(control_plane, set_node_on_first_message_only=True),
                            None)])
    method, request = control_plane.next_request()
    assert method == "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners"
    assert request.node.id == "proxy-1"
    control_plane.send(sotw_response(LDS, "l1", "n1", listener("a")))
    _, ack = control_plane.next_request()
    assert ack.version_info == "l1" and not ack.HasField("node")


def test_an_exception_in_on_update_is_a_nack(control_plane, make_client):
    def on_update(update):
        raise RuntimeError("cannot apply")

    make_client(Recorder(on_update), [(CDS, source(control_plane), None)])
    control_plane.next_request()
    control_plane.send(sotw_response(CDS, "c1", "n1", cluster("a")))
    _, nack = control_plane.next_request()
    assert (nack.version_info, nack.error_detail.message) == ("", "cannot apply")


def test_reconnecting_resends_the_versions_held(control_plane, make_client):
    recorder = Recorder()
    ads = source(control_plane, ads=True)
    make_client(recorder, [(CDS, ads, None), (EDS, ads, ["x"])])
    requests_by_type(control_plane, 2)
    control_plane.send(sotw_response(CDS, "c1", "n1", cluster("x")))
    control_plane.send(sotw_response(EDS, "e1", "n2", assignment("x")))
    acks = requests_by_type(control_plane, 2)
    assert acks[EDS][1].version_info == "e1"
    recorder.next_update()
    recorder.next_update()

    port = control_plane.port
    control_plane.stop()
    recorder.wait_event(lambda e: e["event"] == "disconnected")
    failure = recorder.wait_event(lambda e: e["event"] == "connection_failure")
    assert failure["retry_in_s"] <= 0.05 and failure["type_urls"] == [CDS, EDS]
    restarted = FakeControlPlane(port)
    try:
        again = requests_by_type(restarted, 2)
        assert (again[CDS][1].version_info, again[CDS][1].response_nonce) == ("c1", "")
        assert (again[EDS][1].version_info, again[EDS][1].response_nonce) == ("e1", "")
        assert list(again[EDS][1].resource_names) == ["x"]
        assert recorder.updates.empty()         # the disconnection changed nothing held
        recorder.wait_count("connected", 2)
    finally:
        restarted.stop()


def test_delta_ads_reconnects_with_the_resource_versions(control_plane, make_client):
    recorder = Recorder()
    ads = source(control_plane, ads=True, delta=True)
    make_client(recorder, [(CDS, ads, None)])
    method, first = control_plane.next_request()
    assert method == type_urls.ads_method(True)
    assert list(first.resource_names_subscribe) == [] and first.node.id == "proxy-1"
    control_plane.send(delta_response(CDS, "n1", [("a", "3", cluster("a")),
                                                  ("b", "4", cluster("b"))]))
    assert sorted(recorder.next_update().resources) == ["a", "b"]
    assert control_plane.next_request()[1].response_nonce == "n1"
    control_plane.send(delta_response(CDS, "n2", removed=["a"]))
    update = recorder.next_update()
    assert (sorted(update.resources), update.removed) == (["b"], ("a",))
    control_plane.next_request()

    port = control_plane.port
    control_plane.stop()
    restarted = FakeControlPlane(port)
    try:
        _, again = restarted.next_request()
        assert dict(again.initial_resource_versions) == {"b": "4"}
        assert again.response_nonce == ""
    finally:
        restarted.stop()


def test_the_initial_fetch_timeout_lets_the_caller_go_on(control_plane, make_client):
    recorder = Recorder()
    client = make_client(recorder, [(LDS, source(control_plane, initial_fetch_timeout_s=0.3),
                                     None)])
    assert client.wait_initial(0.05) is False
    assert client.wait_initial(3.0) is True
    done = recorder.wait_event(lambda e: e["event"] == "initial_fetch_done")
    assert (done["type_url"], done["reason"]) == (LDS, "timeout")
    # a response after the timeout is applied as any other, with no second "done"
    control_plane.next_request()
    control_plane.send(sotw_response(LDS, "l1", "n1", listener("a")))
    recorder.next_update()
    assert len(recorder.named("initial_fetch_done")) == 1


def test_no_server_is_connection_failures_with_back_off(make_client):
    unused = FakeControlPlane()
    port = unused.port
    unused.stop()
    recorder = Recorder()
    client = make_client(recorder, [(CDS, GrpcSource("127.0.0.1", port, backoff_base_s=0.02,
                                                     backoff_max_s=0.05,
                                                     initial_fetch_timeout_s=0), None)])
    recorder.wait_count("connection_failure", 3)
    assert recorder.named("connected") == []
    assert client.wait_initial(0.1) is False      # 0: no timeout, wait for the first response
