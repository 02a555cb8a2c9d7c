"""Protos to dicts and back (node, JSON with unknown fields), the reconnection back-off, and the
package's promise not to bring gevent into the xDS process."""
import subprocess
import sys

import pytest

from hotproxy.xds import convert, type_urls
from hotproxy.xds.backoff import Backoff
from hotproxy.xds.resources import parse_json_response


def test_node_from_the_bootstrap_shape():
    node = convert.node_message({"id": "n1", "cluster": "c1",
                                 "metadata": {"team": "edge", "n": 1},
                                 "locality": {"region": "r", "zone": "z"}})
    assert (node.id, node.cluster, node.locality.zone) == ("n1", "c1", "z")
    assert node.metadata.fields["team"].string_value == "edge"
    with pytest.raises(ValueError, match="unknown field"):
        convert.node_message({"id": "n1", "colour": "red"})


def test_json_unknown_fields_are_found_then_left_out():
    cluster_url = type_urls.CLUSTER.type_url
    response, by_index, other = parse_json_response({
        "version_info": "v1", "type_url": cluster_url, "surprise": 1,
        "resources": [
            {"@type": cluster_url, "name": "a", "connect_timeout": "1.5s"},
            {"@type": cluster_url, "name": "b", "new_knob": True,
             "load_assignment": {"cluster_name": "b", "endpoints": [{"shiny": 1}]},
             "typed_extension_protocol_options": {
                 "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                     "@type": "type.googleapis.com/"
                              "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                     "explicitHttpConfig": {"http2ProtocolOptions": {}}, "odd": 2}},
             "metadata": {"filter_metadata": {"x": {"anything": "goes"}}}}]})
    assert response.version_info == "v1" and len(response.resources) == 2
    assert other == ["surprise"]
    assert by_index == {1: [
        "new_knob", "load_assignment.endpoints[0].shiny",
        "typed_extension_protocol_options[envoy.extensions.upstreams.http.v3."
        "HttpProtocolOptions].odd"]}


def test_json_that_is_not_a_discovery_response():
    with pytest.raises(ValueError):
        parse_json_response(["not", "an", "object"])
    with pytest.raises(ValueError):
        parse_json_response({"resources": [{"@type": "type.googleapis.com/no.such.Type"}]})
    with pytest.raises(ValueError):
        parse_json_response({"version_info": {"not": "a string"}})


def test_a_type_is_found_by_importing_its_package():
    cls = convert.message_class("envoy.extensions.filters.http.router.v3.Router")
    assert cls.DESCRIPTOR.full_name == "envoy.extensions.filters.http.router.v3.Router"
    with pytest.raises(ValueError, match="unknown message type"):
        convert.message_class("envoy.nothing.here.v3.Thing")


def test_backoff_is_fully_jittered_and_doubles_to_its_max():
    draws = iter([0.999, 0.999, 0.999, 0.5, 0.999, 0.0])
    backoff = Backoff(0.5, 3.0, rng=lambda: next(draws))
    delays = [backoff.next() for _ in range(5)]
    assert delays == pytest.approx([0.4995, 0.999, 1.998, 1.5, 2.997])
    backoff.reset()
    assert backoff.next() == 0.0
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_the_client_does_not_import_gevent():
    code = ("import sys, hotproxy.xds.client, hotproxy.xds.file_source; "
            "assert 'gevent' not in sys.modules, 'gevent imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
