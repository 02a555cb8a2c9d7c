"""The admin server's routing (sans-IO through ``AdminServer.handle``), config_dump redaction,
the runtime admin layer and the health_check filter's answers."""
from hotproxy.admin.config_dump import REDACTED, config_dump, redact
from hotproxy.admin.server import AdminRouter, Endpoint, Request, Response
from hotproxy.config.core import HeaderMatcher, StringMatcher
from hotproxy.config.listener import HealthCheck
from hotproxy.http.filters.health_check import FAILED_HEADER, HealthCheckFilter
from hotproxy.http.http1.codec import RequestDecoder
from hotproxy.runtime import Runtime


def server():
    calls = []
    admin = AdminRouter()
    admin.register([Endpoint("/ready", lambda r: Response("LIVE\n"), "state"),
                    Endpoint("/quitquitquit", lambda r: calls.append(r) or Response("OK\n"), "exit",
                             mutates=True),
                    Endpoint("/boom", lambda r: 1 / 0, "a bug")])
    return admin, calls


def test_get_on_a_mutating_path_is_405_and_does_nothing():
    admin, calls = server()
    response = admin.handle(Request("GET", "/quitquitquit", ""))
    assert (response.status, response.body) == (405, b"Method GET not allowed, POST required.")
    assert calls == []
    assert admin.handle(Request("POST", "/quitquitquit", "")).status == 200 and len(calls) == 1


def test_unknown_path_is_404_with_the_help():
    admin, _ = server()
    response = admin.handle(Request("GET", "/nope", ""))
    assert response.status == 404
    assert response.body.decode() == ("invalid path. admin commands are:\n  /boom: a bug\n"
                                      "  /quitquitquit (POST): exit\n  /ready: state\n")


def test_a_failing_handler_is_a_500_not_a_dead_server():
    admin, _ = server()
    assert admin.handle(Request("GET", "/boom", "")).status == 500


def test_query_parameters_keep_bare_flags():
    assert Request("GET", "/stats", "usedonly&filter=a").query == {"usedonly": "", "filter": "a"}


def test_config_dump_redacts_secrets_and_keeps_the_rest():
    tree = {"tls": {"private_key": {"inline_string": "KEY"}, "certificate_chain": {"filename": "c.pem"}},
            "headers": [{"key": "x-a", "value": "1"}]}
    assert redact(tree) == {"tls": {"private_key": {"inline_string": REDACTED},
                                    "certificate_chain": {"filename": "c.pem"}},
                            "headers": [{"key": "x-a", "value": "1"}]}


def test_config_dump_shape():
    dump = config_dump("static_resources:\n  clusters: [{name: a}]\n  listeners: [{name: l}]\n",
                       "2026-01-01T00:00:00Z")
    assert dump["configs"][1]["static_clusters"][0]["cluster"]["name"] == "a"
    assert dump["configs"][2]["static_listeners"][0]["listener"]["name"] == "l"


def test_runtime_admin_layer():
    runtime = Runtime()
    runtime.modify({"a": "1", "b": "2"})
    runtime.modify({"b": ""})
    assert runtime.dump() == {"layers": ["admin"],
                              "entries": {"a": {"layer_values": ["1"], "final_value": "1"}}}


def head_of(raw):
    decoder = RequestDecoder()
    decoder.feed(raw)
    return decoder.events[0]


def test_health_check_filter_matches_and_answers():
    config = HealthCheck(headers=(HeaderMatcher(":path", "string_match",
                                                string_match=StringMatcher("exact", "/healthz")),))
    health = HealthCheckFilter(config, "svc")
    assert health.matches(head_of(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"), b"/healthz")
    assert not health.matches(head_of(b"GET /healthz?x HTTP/1.1\r\nHost: a\r\n\r\n"), b"/healthz?x")
    assert health.reply(False) == (200, [(b"x-envoy-upstream-healthchecked-cluster", b"svc")])
    status, headers = health.reply(True)
    assert status == 503 and FAILED_HEADER in headers
    assert HealthCheckFilter(config).reply(False) == (200, [])
