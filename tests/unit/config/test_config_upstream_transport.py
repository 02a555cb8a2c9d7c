"""A cluster's upstream PROXY protocol transport socket, its transport_socket_matches, and the
endpoint and locality metadata they match against."""
import pytest

from config_helpers import CLUSTER, Rejected, ids, parse_with
from hotproxy.config.cluster import TransportSocketMatch, UpstreamProxyProtocol
from hotproxy.config.tls import UpstreamTlsContext

PROXY_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport"
RAW = {"name": "raw", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}
TLS = {"name": "tls", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                                       "sni": "up.example.com"}}
LOCALITY = f"{CLUSTER}.load_assignment.endpoints[0]"
LB_ENDPOINT = f"{LOCALITY}.lb_endpoints[0]"


def proxy_protocol(inner=RAW, **config):
    return {"name": "pp", "typed_config": {"@type": PROXY_TYPE, "config": config, "transport_socket": inner}}


def test_proxy_protocol_around_raw_buffer_or_tls():
    assert parse_with({f"{CLUSTER}.transport_socket": proxy_protocol(version="V2")}).clusters[0].transport_socket \
        == UpstreamProxyProtocol(version="V2")
    wrapped = parse_with({f"{CLUSTER}.transport_socket": proxy_protocol(TLS)}).clusters[0].transport_socket
    assert wrapped.version == "V1" and isinstance(wrapped.inner, UpstreamTlsContext)
    assert wrapped.inner.sni == "up.example.com"


def test_transport_socket_matches_and_the_metadata_they_match():
    cluster = parse_with({
        f"{CLUSTER}.transport_socket_matches": [
            {"name": "tls", "match": {"tls": True}, "transport_socket": TLS},
            {"name": "plain", "transport_socket": RAW}],
        f"{LB_ENDPOINT}.metadata": {"filter_metadata": {"envoy.transport_socket_match": {"tls": True},
                                                        "envoy.lb": {"canary": True}}},
        f"{LOCALITY}.metadata": {"filter_metadata": {"envoy.transport_socket_match": {"zone": "a"}}},
    }).clusters[0]
    tls, plain = cluster.transport_socket_matches
    assert (tls.name, tls.match, type(tls.transport_socket)) == ("tls", (("tls", True),), UpstreamTlsContext)
    assert plain == TransportSocketMatch(name="plain", match=(), transport_socket=None)
    (endpoint, labels), = cluster.endpoints_with_labels()
    assert labels == ((("tls", True),), (("zone", "a"),))
    assert len(list(cluster.tls_contexts())) == 1


def test_metadata_without_a_socket_match_entry_has_no_labels():
    cluster = parse_with({f"{LB_ENDPOINT}.metadata": {"filter_metadata": {"envoy.lb": {"v": 1}}}}).clusters[0]
    assert list(cluster.endpoints_with_labels())[0][1] == (None, None)


REJECTED = [
    Rejected({f"{CLUSTER}.transport_socket": proxy_protocol(version="V3")},
             f"{CLUSTER}.transport_socket.typed_config.config.version", "unknown enum value 'V3'"),
    Rejected({f"{CLUSTER}.transport_socket": {"name": "pp", "typed_config": {"@type": PROXY_TYPE}}},
             f"{CLUSTER}.transport_socket.typed_config.transport_socket", "required field is missing"),
    Rejected({f"{CLUSTER}.transport_socket": proxy_protocol(proxy_protocol())},
             f"{CLUSTER}.transport_socket.typed_config.transport_socket.typed_config.@type", "not supported by hotproxy yet here"),
    Rejected({f"{CLUSTER}.transport_socket": proxy_protocol(version="V2", added_tlvs=[])},
             f"{CLUSTER}.transport_socket.typed_config.config.added_tlvs", "not supported by hotproxy yet"),
    Rejected({f"{CLUSTER}.transport_socket_matches": [{"name": "m", "match": {}}]},
             f"{CLUSTER}.transport_socket_matches[0].transport_socket", "required field is missing"),
    Rejected({f"{CLUSTER}.transport_socket_matches": [{"name": "m", "match": [1], "transport_socket": RAW}]},
             f"{CLUSTER}.transport_socket_matches[0].match", "expected a mapping"),
    Rejected({f"{CLUSTER}.transport_socket_matcher": {}}, f"{CLUSTER}.transport_socket_matcher", "not supported by hotproxy yet"),
    Rejected({f"{LB_ENDPOINT}.metadata": {"typed_filter_metadata": {}}},
             f"{LB_ENDPOINT}.metadata.typed_filter_metadata", "not supported by hotproxy yet"),
    Rejected({f"{LB_ENDPOINT}.metadata": {"filter_metadata": {"envoy.transport_socket_match": "tls"}}},
             f"{LB_ENDPOINT}.metadata.filter_metadata.envoy.transport_socket_match", "expected a mapping"),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejections_name_the_field(case):
    case.check()
