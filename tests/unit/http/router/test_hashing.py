"""A route's hash key, as Envoy's HashPolicyImpl computes it. The expected numbers are xxHash64
(seed 0) of the stated bytes, combined as Envoy combines them (rotate left by one, xor); the
made-up cookie value is the one Envoy 1.40 sent for the same client and listener addresses."""
from types import SimpleNamespace

from hotproxy.config.route import HashPolicy, RegexRewrite
from hotproxy.http.router.hashing import RequestHash, cookie_value
from hotproxy.http.stream import ActiveStream

ALICE = 8332761332120969289           # xxHash64(b"alice")
IP = 3728003503708587973              # xxHash64(b"10.0.0.7")
ALICE_THEN_IP = 15346952513931347799  # rotl1(ALICE) ^ IP
ALICE_TWICE = 10728769313519608027    # rotl1(ALICE) ^ ALICE: not 0, duplicates do not cancel
A_AND_B = 7347350983217793633         # xxHash64(b"ab"): values sorted, hashed as one
FORTY_TWO = 7919287270473417401       # xxHash64(b"42")
EMPTY = 17241709254077376921          # xxHash64(b"")
# Envoy 1.40 answered a client at 127.0.0.1:40111 on a listener at 127.0.0.1:19900 with
# set-cookie: sticky="4b045d55b4efd261"; Max-Age=3600; Path=/app; HttpOnly
MADE_UP = b"4b045d55b4efd261"
MADE_UP_HASH = 15167115755936422932   # xxHash64(MADE_UP)

CONN = SimpleNamespace(remote_ip="10.0.0.7", remote_address="127.0.0.1:40111",
                       local_address="127.0.0.1:19900")


def stream():
    head = SimpleNamespace(chunked=False, keep_alive=True)
    return ActiveStream(head, 0.0)


def key(policies, headers=(), target=b"/", conn=CONN, on=None):
    return RequestHash(policies, "hash_policy").key(on or stream(), list(headers), target, conn)


def test_header():
    assert key([HashPolicy("header", "x-user")], [(b"x-user", b"alice")]) == ALICE
    assert key([HashPolicy("header", "x-user")], [(b"other", b"alice")]) is None
    # several values: sorted, so that their order does not matter
    assert key([HashPolicy("header", "x-user")], [(b"x-user", b"b"), (b"x-user", b"a")]) == A_AND_B
    rewrite = RegexRewrite("^user-(.*)$", "\\1")
    assert key([HashPolicy("header", "x-user", regex_rewrite=rewrite)],
               [(b"x-user", b"user-alice")]) == ALICE


def test_source_ip():
    assert key([HashPolicy("source_ip")]) == IP


def test_query_parameter():
    policy = [HashPolicy("query_parameter", "id")]
    assert key(policy, target=b"/p?x=1&id=42&id=7") == FORTY_TWO       # the first one
    assert key(policy, target=b"/p?id") == EMPTY                      # present without a value
    assert key(policy, target=b"/p?idx=42") is None
    assert key(policy, target=b"/p") is None


def test_cookie_received():
    policy = [HashPolicy("cookie", "sticky", ttl=3600.0, path="/app")]
    on = stream()
    assert key(policy, [(b"cookie", b"a=1;  sticky=\"alice\"; b=2")], on=on) == ALICE
    assert on.cookies() is None
    assert cookie_value([(b"cookie", b"a=1"), (b"cookie", b"sticky=alice")], b"sticky") == b"alice"


def test_cookie_missing_without_ttl_yields_nothing():
    assert key([HashPolicy("cookie", "sticky")], [(b"cookie", b"other=1")]) is None


def test_cookie_missing_with_ttl_is_made_up_as_envoy_does():
    on = stream()
    assert key([HashPolicy("cookie", "sticky", ttl=3600.0, path="/app")], on=on) == MADE_UP_HASH
    assert on.cookies() == [b'sticky="%s"; Max-Age=3600; Path=/app; HttpOnly' % MADE_UP]
    # probed on Envoy 1.40: no Max-Age for a ttl of 0, attributes before HttpOnly
    on = stream()
    key([HashPolicy("cookie", "sticky", ttl=0.0)], on=on)
    assert on.cookies() == [b'sticky="%s"; HttpOnly' % MADE_UP]
    on = stream()
    key([HashPolicy("cookie", "sticky", ttl=10.0,
                    attributes=(("SameSite", "Strict"), ("Secure", "")))], on=on)
    assert on.cookies() == [b'sticky="%s"; Max-Age=10; SameSite=Strict; Secure; HttpOnly' % MADE_UP]


def test_policies_combine_in_order_and_terminal_stops_them():
    user = HashPolicy("header", "x-user")
    headers = [(b"x-user", b"alice")]
    assert key([user, HashPolicy("source_ip")], headers) == ALICE_THEN_IP
    assert key([user, user], headers) == ALICE_TWICE
    terminal = HashPolicy("header", "x-user", terminal=True)
    assert key([terminal, HashPolicy("source_ip")], headers) == ALICE
    # a terminal policy that produced nothing does not stop the list
    assert key([terminal, HashPolicy("source_ip")]) == IP
    # a policy that produced nothing leaves the key as it was
    assert key([HashPolicy("header", "x-none"), user], headers) == ALICE
