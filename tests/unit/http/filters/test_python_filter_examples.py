"""The two worked examples of deploy/python-filters, sans-IO: the canary splitter and the JWT-claims
checker, loaded the way their configs load them."""
import sys
import time
from pathlib import Path

import pytest
from filter_fakes import FakeConnection, FakeRequest, FakeStream

from hotproxy.config.http_filters.python import Python, PythonPerRoute, frozen
from hotproxy.http.filters.api import FilterContext
from hotproxy.http.filters.python import factory

EXAMPLES = Path(__file__).resolve().parents[4] / "deploy" / "python-filters"
sys.path.insert(0, str(EXAMPLES))
from make_token import make_token  # noqa: E402

SECRET = "unit-test secret"


def example(file, class_name, config, name):
    built = factory(Python(class_name, path=str(EXAMPLES / file), config=frozen(config)),
                    FilterContext(None, "http.ingress.", None))
    built.name = name
    return built


@pytest.fixture
def canary():
    return example("canary.py", "CanarySplitter", {"percent": 10, "user_header": "x-user-id"}, "canary")


def canary_stream(headers=(), per_route=None, remote_ip="10.0.0.1"):
    return FakeStream(FakeRequest(headers=list(headers)), per_route=per_route,
                      connection=FakeConnection(remote_ip=remote_ip))


def chosen(stream):
    return (b"x-hotproxy-canary", b"1") in stream.request.headers


def test_canary_forced_either_way_and_said_in_the_response(canary):
    always = canary_stream([(b"x-canary", b"always")])
    filter_ = canary.create(always)
    always.run_request(filter_)
    assert chosen(always) and always.route_cleared
    assert always.info.metadata("canary") == {"chosen": True}
    assert always.run_response(filter_)[0].headers == [(b"x-served-by-canary", b"yes")]
    never = canary_stream([(b"x-canary", b"never")])
    never.run_request(canary.create(never))
    assert not chosen(never) and not never.route_cleared


def test_canary_share_follows_percent_sticky_per_user(canary):
    def share(per_route=None):
        picked = 0
        for user in range(2000):
            stream = canary_stream([(b"x-user-id", b"user-%d" % user)], per_route)
            stream.run_request(canary.create(stream))
            picked += chosen(stream)
        return picked / 2000
    assert 0.07 < share() < 0.13
    assert 0.45 < share({"canary": PythonPerRoute(frozen({"percent": 50}))}) < 0.55
    again = [canary_stream([(b"x-user-id", b"bob")]) for _ in range(3)]
    for stream in again:
        stream.run_request(canary.create(stream))
    assert len({chosen(stream) for stream in again}) == 1


def test_canary_drops_a_spoofed_decision(canary):
    stream = canary_stream([(b"x-hotproxy-canary", b"1"), (b"x-canary", b"never")])
    stream.run_request(canary.create(stream))
    assert not chosen(stream) and stream.route_cleared


def test_canary_refuses_a_bad_percent():
    from hotproxy.http.filters.python_loader import LoadError
    with pytest.raises(LoadError, match=r"percent must be between 0 and 100.*canary.py:\d+"):
        example("canary.py", "CanarySplitter", {"percent": 120}, "canary")


@pytest.fixture
def jwt():
    return example("jwt_claims.py", "JwtClaims",
                   {"secret": SECRET, "claim": "role", "allowed": ["reader", "admin"]}, "jwt")


def jwt_stream(token=None, per_route=None, scheme=b"Bearer "):
    headers = [(b"x-jwt-sub", b"spoofed")]
    if token is not None:
        headers.append((b"authorization", scheme + token.encode()))
    return FakeStream(FakeRequest(headers=headers), per_route=per_route)


def claims(**extra):
    return {"sub": "alice", "role": "reader", "exp": int(time.time()) + 60, **extra}


def test_jwt_a_valid_token_passes_with_its_subject(jwt):
    stream = jwt_stream(make_token(claims(), SECRET))
    assert stream.run_request(jwt.create(stream)) == (True, b"")
    assert [v for k, v in stream.request.headers if k == b"x-jwt-sub"] == [b"alice"]


def test_jwt_a_list_claim_passes_when_it_holds_an_allowed_value(jwt):
    stream = jwt_stream(make_token(claims(role=["guest", "admin"]), SECRET))
    assert stream.run_request(jwt.create(stream)) == (True, b"")


# Tokens are made when the test runs (lambdas): made at collection, a token's expiry would
# pass while a long suite runs.
@pytest.mark.parametrize("make,why", [
    (lambda: None, "missing bearer token"),
    (lambda: "not-a-jwt", "malformed token"),
    (lambda: "a.b.c", "malformed token"),
    (lambda: make_token(claims(), "another secret"), "bad signature"),
    (lambda: make_token(claims(), SECRET, alg="none"), "unsupported alg"),
    (lambda: make_token(claims(exp=int(time.time()) - 10), SECRET), "token expired"),
    (lambda: make_token({"sub": "x", "role": "reader"}, SECRET), "token expired"),
    (lambda: make_token(claims(role="guest"), SECRET), "role not allowed"),
    (lambda: make_token(claims(role=7), SECRET), "role not allowed"),
], ids=["missing", "not-jwt", "garbage", "signature", "alg-none", "expired", "no-exp", "role", "role-type"])
def test_jwt_refusals_are_401s(jwt, make, why):
    token = make()
    stream = jwt_stream(token)
    assert stream.run_request(jwt.create(stream)) == (None, b"")
    status, body, headers, details, _flag = stream.local_reply
    assert (status, body) == (401, f"unauthorized: {why}\n".encode())
    assert headers == [(b"www-authenticate", b'Bearer error="invalid_token"')]
    assert " " not in details
    assert jwt.stats.errors == 0


def test_jwt_a_basic_scheme_is_no_bearer(jwt):
    stream = jwt_stream(make_token(claims(), SECRET), scheme=b"Basic ")
    stream.run_request(jwt.create(stream))
    assert stream.local_reply[0] == 401


def test_jwt_per_route_allowed_narrows(jwt):
    admin_only = {"jwt": PythonPerRoute(frozen({"allowed": ["admin"]}))}
    reader = jwt_stream(make_token(claims(), SECRET), admin_only)
    reader.run_request(jwt.create(reader))
    assert reader.local_reply[0] == 401
    admin = jwt_stream(make_token(claims(role="admin"), SECRET), admin_only)
    assert admin.run_request(jwt.create(admin)) == (True, b"")


def test_jwt_leeway_accepts_a_just_expired_token():
    lenient = example("jwt_claims.py", "JwtClaims",
                      {"secret": SECRET, "allowed": ["reader"], "leeway_seconds": 30}, "jwt")
    stream = jwt_stream(make_token(claims(exp=int(time.time()) - 10), SECRET))
    assert stream.run_request(lenient.create(stream)) == (True, b"")


def test_jwt_secret_from_the_environment(monkeypatch):
    monkeypatch.setenv("JWT_TEST_SECRET", SECRET)
    from_env = example("jwt_claims.py", "JwtClaims",
                       {"secret_env": "JWT_TEST_SECRET", "allowed": ["reader"]}, "jwt")
    stream = jwt_stream(make_token(claims(), SECRET))
    assert stream.run_request(from_env.create(stream)) == (True, b"")
