"""The state-of-the-world subscription state, sans IO: the fields of each request it makes
(first, ACK, NACK, change of names, new stream) and what a response makes current."""
from envoy.service.discovery.v3 import discovery_pb2
from xds_client_fakes import assignment, cluster, listener, packed, sotw_response

from hotproxy.xds import type_urls
from hotproxy.xds.resources import MAX_NACK_MESSAGE, NACK_CODE
from hotproxy.xds.sotw import SotwState

LDS, EDS = type_urls.LISTENER.type_url, type_urls.ENDPOINT.type_url


def accept(state, response):
    staged = state.receive(response)
    assert staged.error is None, staged.error
    return staged, state.accept(staged)


def test_first_request_has_no_version_nor_nonce():
    request = SotwState(type_urls.LISTENER, None).fresh_request()
    assert (request.version_info, request.response_nonce, list(request.resource_names)) == \
        ("", "", [])
    assert request.type_url == LDS
    assert not request.HasField("error_detail")


def test_ack_carries_the_responses_version_and_nonce():
    state = SotwState(type_urls.LISTENER, None)
    staged, ack = accept(state, sotw_response(LDS, "v1", "n1", listener("a"), listener("b")))
    assert (ack.version_info, ack.response_nonce) == ("v1", "n1")
    assert not ack.HasField("error_detail")
    assert sorted(state.resources) == ["a", "b"]
    update = staged.update
    assert (update.version_info, update.added_or_changed, update.removed) == \
        ("v1", ("a", "b"), ())
    entry = update.resources["a"]
    assert entry.version == "v1"
    assert entry.body["address"]["socket_address"]["port_value"] == 10000
    assert entry.unknown_fields == ()


def test_nack_keeps_the_last_accepted_version_and_set():
    state = SotwState(type_urls.LISTENER, None)
    accept(state, sotw_response(LDS, "v1", "n1", listener("a")))
    staged = state.receive(sotw_response(LDS, "v2", "n2", listener("b")))
    nack = state.reject(staged, "listener b: bad")
    assert (nack.version_info, nack.response_nonce) == ("v1", "n2")
    assert (nack.error_detail.code, nack.error_detail.message) == (NACK_CODE, "listener b: bad")
    assert NACK_CODE == 13          # google.rpc.Code INTERNAL, as Envoy sends
    assert list(state.resources) == ["a"] and state.version_info == "v1"
    ack = accept(state, sotw_response(LDS, "v3", "n3", listener("c")))[1]
    assert (ack.version_info, ack.response_nonce) == ("v3", "n3")
    assert not ack.HasField("error_detail")     # a NACK's error is not repeated


def test_a_long_nack_message_is_truncated_as_envoy_does():
    state = SotwState(type_urls.LISTENER, None)
    staged = state.receive(sotw_response(LDS, "v1", "n1", listener("a")))
    message = state.reject(staged, "x" * 5000).error_detail.message
    assert message == "x" * MAX_NACK_MESSAGE + "...(truncated)"


def test_a_wildcard_response_is_the_whole_set():
    state = SotwState(type_urls.CLUSTER, None)
    accept(state, sotw_response(type_urls.CLUSTER.type_url, "v1", "n1", cluster("a"),
                                cluster("b")))
    staged, _ = accept(state, sotw_response(type_urls.CLUSTER.type_url, "v2", "n2",
                                            cluster("b", timeout_s=2), cluster("c")))
    assert sorted(staged.update.resources) == ["b", "c"]
    assert staged.update.added_or_changed == ("b", "c")
    assert staged.update.removed == ("a",)
    staged, _ = accept(state, sotw_response(type_urls.CLUSTER.type_url, "v3", "n3",
                                            cluster("b", timeout_s=2), cluster("c")))
    assert staged.update.added_or_changed == ()         # resent unchanged


def test_named_resources_are_updated_not_replaced_and_others_ignored():
    state = SotwState(type_urls.ENDPOINT, frozenset({"a", "b"}))
    request = state.fresh_request()
    assert list(request.resource_names) == ["a", "b"]
    accept(state, sotw_response(EDS, "v1", "n1", assignment("a"), assignment("b")))
    staged, _ = accept(state, sotw_response(EDS, "v2", "n2", assignment("a"),
                                            assignment("other")))
    # the protocol lets a response carry only what changed: b stays; other was not asked for
    assert sorted(staged.update.resources) == ["a", "b"]
    assert staged.update.resources["b"].version == "v1"
    assert staged.update.removed == ()


def test_changing_names_sends_the_current_version_and_last_nonce_and_drops_the_rest():
    state = SotwState(type_urls.ENDPOINT, frozenset({"a", "b"}))
    accept(state, sotw_response(EDS, "v1", "n1", assignment("a"), assignment("b")))
    request = state.set_names(frozenset({"b", "c"}))
    assert (request.version_info, request.response_nonce) == ("v1", "n1")
    assert list(request.resource_names) == ["b", "c"]
    assert list(state.resources) == ["b"]


def test_a_new_stream_resends_the_version_without_the_nonce():
    state = SotwState(type_urls.ENDPOINT, frozenset({"a"}))
    accept(state, sotw_response(EDS, "v1", "n1", assignment("a")))
    request = state.fresh_request()
    assert (request.version_info, request.response_nonce) == ("v1", "")
    assert list(request.resource_names) == ["a"]


def test_a_rest_poll_carries_no_nonce():
    state = SotwState(type_urls.CLUSTER, None)
    accept(state, sotw_response(type_urls.CLUSTER.type_url, "v1", "n1", cluster("a")))
    request = state.poll_request()
    assert (request.version_info, request.response_nonce) == ("v1", "")


def test_malformed_responses_are_refused_without_touching_the_set():
    state = SotwState(type_urls.LISTENER, None)
    accept(state, sotw_response(LDS, "v1", "n1", listener("a")))
    duplicate = state.receive(sotw_response(LDS, "v2", "n2", listener("b"), listener("b")))
    assert duplicate.update is None
    assert "duplicate envoy.config.listener.v3.Listener 'b'" in duplicate.error
    assert state.reject(duplicate, duplicate.error).response_nonce == "n2"
    wrong_type = state.receive(sotw_response(LDS, "v3", "n3", cluster("c")))
    assert "does not match the message-wide type URL" in wrong_type.error
    garbage = sotw_response(LDS, "v4", "n4")
    garbage.resources.add(type_url=LDS, value=b"\xff\xff\xff")
    assert "Unable to unpack" in state.receive(garbage).error
    assert list(state.resources) == ["a"] and state.version_info == "v1"


def test_resources_wrapped_in_a_resource_message():
    state = SotwState(type_urls.CLUSTER, None)
    response = discovery_pb2.DiscoveryResponse(type_url=type_urls.CLUSTER.type_url,
                                               version_info="v1", nonce="n1")
    response.resources.append(packed(discovery_pb2.Resource(
        name="a", version="ra", resource=packed(cluster("a")))))
    staged, _ = accept(state, response)
    assert staged.update.resources["a"].version == "ra"
    heartbeat = discovery_pb2.DiscoveryResponse(type_url=type_urls.CLUSTER.type_url,
                                                version_info="v2", nonce="n2")
    heartbeat.resources.append(packed(discovery_pb2.Resource(name="a", version="ra")))
    staged, _ = accept(state, heartbeat)
    assert list(staged.update.resources) == ["a"] and staged.update.added_or_changed == ()


def test_unknown_fields_of_the_wire_message_are_named_with_their_path():
    from envoy.extensions.filters.network.http_connection_manager.v3 import (
        http_connection_manager_pb2 as hcm_pb2)
    hcm_cls = hcm_pb2.HttpConnectionManager
    # field 999 = 1 inside the typed_config Any, field 1000 = 2 on the listener itself
    hcm = hcm_cls.FromString(hcm_cls(stat_prefix="x").SerializeToString() + b"\xb8\x3e\x01")
    message = listener("a")
    message.filter_chains.add().filters.add(name="hcm").typed_config.Pack(hcm)
    message = type(message).FromString(message.SerializeToString() + b"\xc0\x3e\x02")
    staged = SotwState(type_urls.LISTENER, None).receive(sotw_response(LDS, "v1", "n1", message))
    assert staged.error is None, staged.error
    entry = staged.update.resources["a"]
    assert entry.unknown_fields == ("#1000", "filter_chains[0].filters[0].typed_config.#999")
    assert staged.unknown_fields == {"a": entry.unknown_fields}
    typed_config = entry.body["filter_chains"][0]["filters"][0]["typed_config"]
    assert typed_config == {"@type": hcm_cls.DESCRIPTOR.full_name.join(
        ("type.googleapis.com/", "")), "stat_prefix": "x"}
