"""The header mutation and header-to-metadata filters, sans-IO."""
from hotproxy.config.core import HeaderValueOption
from hotproxy.config.http_filters import header_mutation as hm_config
from hotproxy.config.http_filters import header_to_metadata as h2m_config
from hotproxy.config.route import RegexRewrite
from hotproxy.http.filters import header_mutation, header_to_metadata
from hotproxy.http.filters.api import FilterContext

from filter_fakes import FakeRequest, FakeStream

CONTEXT = FilterContext(None, "http.ingress.", None)


def append(key, value, action="APPEND_IF_EXISTS_OR_ADD", keep_empty=False):
    action = "".join(action)        # a string of its own, as the config parser makes it
    return hm_config.Mutation(append=HeaderValueOption(key, value, action, keep_empty))


def remove(key):
    return hm_config.Mutation(remove=key)


def mutation_factory(request=(), response=(), name="hm"):
    config = hm_config.HeaderMutation(hm_config.Mutations(tuple(request), tuple(response)))
    factory = header_mutation.factory(config, CONTEXT)
    factory.name = name
    return factory


def test_mutations_apply_in_order():
    factory = mutation_factory(request=[
        remove("x-drop"), append("x-a", "1"), append("x-a", "2"),
        append("x-b", "new", "ADD_IF_ABSENT"), append("x-keep", "no", "ADD_IF_ABSENT"),
        append("x-fresh", "f", "ADD_IF_ABSENT"),
        append("x-over", "o", "OVERWRITE_IF_EXISTS_OR_ADD"),
        append("x-none", "n", "OVERWRITE_IF_EXISTS"), append("x-keep", "yes", "OVERWRITE_IF_EXISTS"),
        append("x-empty", ""), append("x-kept-empty", "", keep_empty=True),
        append("x-client", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%")])
    stream = FakeStream(FakeRequest(headers=[(b"x-drop", b"1"), (b"x-keep", b"old"), (b"x-b", b"mine"),
                                             (b"x-over", b"1"), (b"x-over", b"2")]))
    assert stream.run_request(factory.create(stream)) == (True, b"")
    assert stream.request.headers == [
        (b"host", b"example.com"), (b"x-b", b"mine"), (b"x-a", b"1"), (b"x-a", b"2"),
        (b"x-fresh", b"f"), (b"x-over", b"o"), (b"x-keep", b"yes"), (b"x-kept-empty", b""), (b"x-client", b"10.0.0.1")]


def test_response_mutations_and_route_mutations_after_the_filters():
    factory = mutation_factory(response=[append("x-r", "filter", "OVERWRITE_IF_EXISTS_OR_ADD")])
    per_route = hm_config.HeaderMutationPerRoute(hm_config.Mutations(
        request_mutations=(append("x-q", "route"),),
        response_mutations=(append("x-r", "route", "OVERWRITE_IF_EXISTS_OR_ADD"),)))
    stream = FakeStream(FakeRequest(), route=object(), per_route={"hm": per_route})
    filter_ = factory.create(stream)
    stream.run_request(filter_)
    assert stream.request.headers[-1] == (b"x-q", b"route")
    response, _ = stream.run_response(filter_, headers=[(b"x-r", b"upstream")])
    assert response.headers == [(b"x-r", b"route")]


def h2m_factory(request=(), response=(), stat_prefix="", name="h2m"):
    config = h2m_config.Config(tuple(request), tuple(response), stat_prefix)
    factory = header_to_metadata.factory(config, CONTEXT)
    factory.name = name
    return factory


def pair(key, **fields):
    return h2m_config.KeyValuePair(key=key, **fields)


def test_header_to_metadata_rules():
    factory = h2m_factory(request=[
        h2m_config.Rule(header="x-version", remove=True,
                        on_header_present=pair("version", metadata_namespace="envoy.lb")),
        h2m_config.Rule(header="x-absent", on_header_missing=pair("absent", value="default")),
        h2m_config.Rule(header="x-n", on_header_present=pair("n", type="NUMBER")),
        h2m_config.Rule(header="x-bad-n", on_header_present=pair("bad", type="NUMBER")),
        h2m_config.Rule(header="x-rewrite", on_header_present=pair(
            "major", regex_value_rewrite=RegexRewrite(r"^v(\d+)\..*$", r"\1"))),
        h2m_config.Rule(header="x-fixed", on_header_present=pair("fixed", value="yes")),
        h2m_config.Rule(header="x-b64", on_header_present=pair("b64", encode="BASE64")),
        h2m_config.Rule(cookie="session", on_header_present=pair("session")),
        h2m_config.Rule(header="x-multi", on_header_present=pair("multi")),
        h2m_config.Rule(header="x-empty", on_header_present=pair("empty")),
    ], stat_prefix="conv")
    stream = FakeStream(FakeRequest(headers=[
        (b"x-version", b"v1"), (b"x-n", b" 42.5 "), (b"x-bad-n", b"4x"), (b"x-rewrite", b"v3.1.4"),
        (b"x-fixed", b"ignored"), (b"x-b64", b"aGVsbG8"), (b"cookie", b"a=1; session=\"abc\""),
        (b"x-multi", b"a"), (b"x-multi", b"b"), (b"x-empty", b"")]))
    assert stream.run_request(factory.create(stream)) == (True, b"")
    assert stream.info.dynamic_metadata == {
        "envoy.lb": {"version": "v1"},
        "envoy.filters.http.header_to_metadata": {
            "absent": "default", "n": 42.5, "major": "3", "fixed": "yes", "b64": "hello",
            "session": "abc", "multi": "a,b"}}
    assert all(name != b"x-version" for name, _ in stream.request.headers)
    [(prefix, stats)] = factory.stat_sets()
    assert prefix == "http_filter_name.conv."
    assert (stats.request_rules_processed, stats.request_metadata_added,
            stats.request_header_not_found) == (10, 8, 1)


def test_response_rules_and_route_config():
    factory = h2m_factory(response=[h2m_config.Rule(header="x-up", on_header_present=pair("up"))])
    assert factory.stat_sets() == ()
    stream = FakeStream(FakeRequest())
    filter_ = factory.create(stream)
    stream.run_request(filter_)
    stream.run_response(filter_, headers=[(b"x-up", b"1")])
    assert stream.info.metadata("envoy.filters.http.header_to_metadata") == {"up": "1"}
    route = h2m_config.Config(request_rules=(
        h2m_config.Rule(header="host", on_header_present=pair("host")),))
    routed = FakeStream(FakeRequest(), route=object(), per_route={"h2m": route})
    filter_ = factory.create(routed)
    routed.run_request(filter_)
    routed.run_response(filter_, headers=[(b"x-up", b"1")])
    assert routed.info.dynamic_metadata == {
        "envoy.filters.http.header_to_metadata": {"host": "example.com"}}


def test_long_values_are_dropped():
    factory = h2m_factory(request=[h2m_config.Rule(header="x", on_header_present=pair("x"))],
                          stat_prefix="p")
    stream = FakeStream(FakeRequest(headers=[(b"x", b"a" * 8192)]))
    stream.run_request(factory.create(stream))
    assert stream.info.dynamic_metadata is None
    assert factory.stats.header_value_too_long == 1
