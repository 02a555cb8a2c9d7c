"""hash_policy filter_state: the value of the stream's filter state ``key`` hashed as Envoy's
FilterStateHashMethod takes it (a Hashable object's hash(); Envoy's string objects hash their
string with xxHash64), nothing when it is unset, not hashable, or the stream has no info."""
from types import SimpleNamespace

import xxhash

from hotproxy.config.route import HashPolicy
from hotproxy.http.router.hashing import RequestHash, filter_state_hash_of
from hotproxy.http.stream import ActiveStream

CONN = SimpleNamespace(remote_ip="10.0.0.7", remote_address="127.0.0.1:40111",
                       local_address="127.0.0.1:19900")
ALICE = 8332761332120969289           # xxHash64(b"alice")


def stream_with(**state):
    stream = ActiveStream(SimpleNamespace(chunked=False, keep_alive=True), 0.0)
    for name, value in state.items():
        stream.info.set_filter_state(name, value)
    return stream


def key(policies, stream):
    return RequestHash(policies, "hash_policy").key(stream, [], b"/", CONN)


def test_a_string_value_hashes_as_its_xxhash64():
    assert key([HashPolicy("filter_state", "user")], stream_with(user="alice")) == ALICE
    assert key([HashPolicy("filter_state", "user")], stream_with(user=b"alice")) == ALICE
    assert filter_state_hash_of("é") == xxhash.xxh64_intdigest("é".encode())


def test_an_unset_key_or_no_filter_state_gives_no_hash():
    assert key([HashPolicy("filter_state", "user")], stream_with(other="x")) is None
    assert key([HashPolicy("filter_state", "user")], stream_with()) is None
    # a stream without HTTP filters has no info
    assert key([HashPolicy("filter_state", "user")], SimpleNamespace()) is None


def test_a_hashable_object_gives_its_hash_and_others_none():
    class Hashable:
        def hash(self):
            return 12345

    class Opaque:
        pass

    assert key([HashPolicy("filter_state", "k")], stream_with(k=Hashable())) == 12345
    assert key([HashPolicy("filter_state", "k")], stream_with(k=Opaque())) is None
    assert key([HashPolicy("filter_state", "k")], stream_with(k={"a": 1})) is None
    assert key([HashPolicy("filter_state", "k")], stream_with(k=7)) is None


def test_it_combines_and_ends_like_the_other_policies():
    both = key([HashPolicy("filter_state", "user"), HashPolicy("source_ip")], stream_with(user="alice"))
    ip = xxhash.xxh64_intdigest(b"10.0.0.7")
    assert both == ((((ALICE << 1) | (ALICE >> 63)) & (2**64 - 1)) ^ ip)
    assert key([HashPolicy("filter_state", "user", terminal=True), HashPolicy("source_ip")],
               stream_with(user="alice")) == ALICE
    assert key([HashPolicy("filter_state", "user", terminal=True), HashPolicy("source_ip")],
               stream_with()) == ip
