"""What a client is answered when the HTTP/2 upstream stream of its tunnel ends before its
response head (h2_upstream_tunnel.reset_reply), as Envoy 1.40 answers it."""
from hotproxy.http.h2_upstream_tunnel import reset_reply
from hotproxy.http.local_reply import CONNECT_ERROR


def test_a_protocol_error_is_a_502():
    assert reset_reply("protocol error") == (502, CONNECT_ERROR + b"protocol error", "UPE")


def test_a_remote_reset_is_a_503_ur():
    assert reset_reply("remote reset") == (503, CONNECT_ERROR + b"remote reset", "UR")
    assert reset_reply("remote refused stream reset")[::2] == (503, "UR")


def test_the_connection_ending_is_a_503_uc():
    assert reset_reply("connection termination") == (503, CONNECT_ERROR + b"connection termination", "UC")
