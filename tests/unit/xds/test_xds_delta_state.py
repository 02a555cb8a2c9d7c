"""The incremental subscription state, sans IO: the bookkeeping of interest, versions held,
additions and removals, and the ACK/NACK requests."""
from envoy.service.discovery.v3 import discovery_pb2
from xds_client_fakes import assignment, cluster, delta_response

from hotproxy.xds import type_urls
from hotproxy.xds.delta import DeltaState
from hotproxy.xds.resources import NACK_CODE

CDS, EDS = type_urls.CLUSTER.type_url, type_urls.ENDPOINT.type_url


def accept(state, response):
    staged = state.receive(response)
    assert staged.error is None, staged.error
    return staged, state.accept(staged)


def test_a_wildcard_stream_opens_with_no_names():
    request = DeltaState(type_urls.CLUSTER, None).fresh_request()
    assert request.type_url == CDS
    assert list(request.resource_names_subscribe) == []
    assert dict(request.initial_resource_versions) == {}
    assert request.response_nonce == ""


def test_additions_and_removals_accumulate_and_ack_by_nonce():
    state = DeltaState(type_urls.CLUSTER, None)
    staged, ack = accept(state, delta_response(CDS, "n1", [("a", "1", cluster("a")),
                                                           ("b", "1", cluster("b"))]))
    assert (ack.response_nonce, ack.type_url) == ("n1", CDS)
    assert not ack.HasField("error_detail")
    assert staged.update.added_or_changed == ("a", "b")
    assert staged.update.version_info == "n1"       # no system_version_info: the nonce
    staged, _ = accept(state, delta_response(CDS, "n2", [("c", "1", cluster("c"))],
                                             removed=["a", "never-had"], system_version="s2"))
    update = staged.update
    assert sorted(update.resources) == ["b", "c"]
    assert (update.added_or_changed, update.removed, update.version_info) == \
        (("c",), ("a",), "s2")
    assert update.resources["c"].version == "1"
    assert sorted(state.resources) == ["b", "c"]


def test_a_nack_applies_nothing():
    state = DeltaState(type_urls.CLUSTER, None)
    accept(state, delta_response(CDS, "n1", [("a", "1", cluster("a"))]))
    staged = state.receive(delta_response(CDS, "n2", [("b", "1", cluster("b"))], removed=["a"]))
    nack = state.reject(staged, "no")
    assert (nack.response_nonce, nack.error_detail.code, nack.error_detail.message) == \
        ("n2", NACK_CODE, "no")
    assert list(state.resources) == ["a"]


def test_reconnecting_sends_the_versions_held_and_all_names():
    state = DeltaState(type_urls.ENDPOINT, frozenset({"a", "b"}))
    first = state.fresh_request()
    assert list(first.resource_names_subscribe) == ["a", "b"]
    accept(state, delta_response(EDS, "n1", [("a", "7", assignment("a"))]))
    again = state.fresh_request()
    assert list(again.resource_names_subscribe) == ["a", "b"]
    assert dict(again.initial_resource_versions) == {"a": "7"}
    assert again.response_nonce == ""


def test_changing_interest_sends_only_the_difference_and_drops_the_unwanted():
    state = DeltaState(type_urls.ENDPOINT, frozenset({"a", "b"}))
    accept(state, delta_response(EDS, "n1", [("a", "1", assignment("a")),
                                             ("b", "1", assignment("b"))]))
    request = state.set_names(frozenset({"b", "c"}))
    assert list(request.resource_names_subscribe) == ["c"]
    assert list(request.resource_names_unsubscribe) == ["a"]
    assert request.response_nonce == ""
    assert list(state.resources) == ["b"]
    assert state.set_names(frozenset({"b", "c"})) is None


def test_resources_not_asked_for_are_ignored():
    state = DeltaState(type_urls.ENDPOINT, frozenset({"a"}))
    staged, _ = accept(state, delta_response(EDS, "n1", [("a", "1", assignment("a")),
                                                         ("z", "1", assignment("z"))]))
    assert list(staged.update.resources) == ["a"]


def test_malformed_responses():
    state = DeltaState(type_urls.CLUSTER, None)
    twice = state.receive(delta_response(CDS, "n1", [("a", "1", cluster("a")),
                                                     ("a", "2", cluster("a"))]))
    assert twice.error == "duplicate name a found among added/updated resources"
    both = state.receive(delta_response(CDS, "n2", [("a", "1", cluster("a"))], removed=["a"]))
    assert both.error == "duplicate name a found in the union of added+removed resources"
    wrong = state.receive(delta_response(CDS, "n3", [("a", "1", assignment("a"))]))
    assert "does not match the message-wide type URL" in wrong.error
    assert state.resources == {}


def test_a_resource_without_a_body_is_a_heartbeat_or_a_removal():
    state = DeltaState(type_urls.CLUSTER, None)
    accept(state, delta_response(CDS, "n1", [("a", "1", cluster("a")), ("b", "1", cluster("b"))]))
    response = discovery_pb2.DeltaDiscoveryResponse(type_url=CDS, nonce="n2", resources=[
        discovery_pb2.Resource(name="a", version="1"),         # same version: a heartbeat
        discovery_pb2.Resource(name="b", version="2"),         # does not exist any more
        discovery_pb2.Resource(name="c", aliases=["alias"])])  # an unresolved alias
    staged, _ = accept(state, response)
    assert sorted(staged.update.resources) == ["a"]
    assert staged.update.removed == ("b",)
