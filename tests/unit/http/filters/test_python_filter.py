"""The Python filter's runtime, sans-IO: loading the operator's class, one object per stream, the
hooks with their continue/stop/local-reply contract, and exceptions turned into 500s (UPE) or
resets, counted and logged, never raised."""
import logging
import textwrap

import pytest
from filter_fakes import FakeRequest, FakeStream

from hotproxy.config.http_filters.python import Python, PythonPerRoute, frozen
from hotproxy.http.filters.api import CONTINUE, STOP, FilterContext
from hotproxy.http.filters.python import ResponseAborted, factory
from hotproxy.http.filters.python_loader import LoadError


def make(tmp_path, source, class_name="F", config=None, name="pyf"):
    path = tmp_path / f"filter_{abs(hash(source))}.py"
    path.write_text(textwrap.dedent(source))
    built = factory(Python(class_name, path=str(path), config=frozen(config or {})),
                    FilterContext(None, "http.ingress.", None))
    built.name = name
    return built


ADDS_HEADER = """
    class F:
        def __init__(self, config):
            self.config = config
        def decode_headers(self, stream, end_stream):
            stream.request.headers.append((self.config["name"].encode(), b"1"))
"""


def test_a_class_from_a_path_gets_its_config_and_edits_the_request(tmp_path):
    built = make(tmp_path, ADDS_HEADER, config={"name": "x-added"})
    stream = FakeStream()
    assert stream.run_request(built.create(stream)) == (True, b"")
    assert (b"x-added", b"1") in stream.request.headers


def test_a_class_from_a_module_on_sys_path(tmp_path, monkeypatch):
    (tmp_path / "opfilters").mkdir()
    (tmp_path / "opfilters" / "__init__.py").write_text("")
    (tmp_path / "opfilters" / "adds.py").write_text(textwrap.dedent(ADDS_HEADER))
    monkeypatch.syspath_prepend(str(tmp_path))
    built = factory(Python("F", module="opfilters.adds", config=frozen({"name": "x-m"})),
                    FilterContext(None, "http.ingress.", None))
    stream = FakeStream()
    stream.run_request(built.create(stream))
    assert (b"x-m", b"1") in stream.request.headers


def test_the_constructor_gets_a_mutable_copy_of_the_config(tmp_path):
    built = make(tmp_path, """
        class F:
            def __init__(self, config):
                config["list"].append(3)
                config["map"]["new"] = 1
                self.config = config
    """, config={"list": [1, 2], "map": {"a": "b"}})
    assert built.instance.config == {"list": [1, 2, 3], "map": {"a": "b", "new": 1}}
    assert built.config.config == {"list": (1, 2), "map": {"a": "b"}}


def test_each_stream_has_its_own_copy_sharing_what_init_built(tmp_path):
    built = make(tmp_path, """
        class F:
            def __init__(self, config):
                self.seen = []
            def decode_headers(self, stream, end_stream):
                self.path = stream.request.target
                self.seen.append(self.path)
            def encode_headers(self, stream, response, end_stream):
                response.headers.append((b"x-path", self.path))
    """)
    one, two = FakeStream(FakeRequest(target=b"/one")), FakeStream(FakeRequest(target=b"/two"))
    first, second = built.create(one), built.create(two)
    one.run_request(first)
    two.run_request(second)
    assert one.run_response(first)[0].headers == [(b"x-path", b"/one")]
    assert two.run_response(second)[0].headers == [(b"x-path", b"/two")]
    assert built.instance.seen == [b"/one", b"/two"]


def test_new_stream_makes_the_streams_object_and_none_stays_out(tmp_path):
    built = make(tmp_path, """
        class PerStream:
            def __init__(self, target):
                self.target = target
            def decode_headers(self, stream, end_stream):
                stream.request.headers.append((b"x-target", self.target))
        class F:
            def __init__(self, config):
                pass
            def new_stream(self, stream):
                if stream.request.target != b"/skip":
                    return PerStream(stream.request.target)
    """)
    assert built.create(FakeStream(FakeRequest(target=b"/skip"))) is None
    stream = FakeStream(FakeRequest(target=b"/a"))
    stream.run_request(built.create(stream))
    assert (b"x-target", b"/a") in stream.request.headers


def test_missing_hooks_and_none_continue_and_stop_buffers(tmp_path):
    built = make(tmp_path, """
        class F:
            def __init__(self, config):
                pass
            def decode_data(self, stream, data, end_stream):
                if not end_stream:
                    return "stop"
                return None
            def encode_data(self, stream, data, end_stream):
                return data.upper()
    """)
    stream = FakeStream()
    filter_ = built.create(stream)
    assert stream.run_request(filter_, [b"ab", b"cd"]) == (True, b"abcd")
    response, body = stream.run_response(filter_, pieces=[b"xy"])
    assert response.status == 200 and body == b"XY"
    assert filter_.decode_trailers(stream, []) is CONTINUE


def test_a_local_reply_from_a_hook(tmp_path):
    built = make(tmp_path, """
        class F:
            def __init__(self, config):
                pass
            def decode_headers(self, stream, end_stream):
                return stream.send_local_reply(403, b"no", headers=[(b"x-why", b"test")], details="denied")
    """)
    stream = FakeStream()
    assert stream.run_request(built.create(stream)) == (None, b"")
    assert stream.local_reply == (403, b"no", [(b"x-why", b"test")], "denied", None)
    assert built.stats.errors == 0


RAISES_IN = """
    class F:
        def __init__(self, config):
            self.where = config["where"]
        def decode_headers(self, stream, end_stream):
            self.fail("decode_headers")
        def decode_data(self, stream, data, end_stream):
            self.fail("decode_data")
        def encode_headers(self, stream, response, end_stream):
            self.fail("encode_headers")
        def encode_data(self, stream, data, end_stream):
            self.fail("encode_data")
        def on_stream_end(self, stream):
            self.fail("on_stream_end")
        def fail(self, hook):
            if hook == self.where:
                raise KeyError("boom in " + hook)
"""


@pytest.mark.parametrize("hook", ["decode_headers", "decode_data", "encode_headers"])
def test_an_exception_is_a_500_with_upe_counted_and_logged(tmp_path, caplog, hook):
    built = make(tmp_path, RAISES_IN, config={"where": hook})
    stream = FakeStream()
    filter_ = built.create(stream)
    with caplog.at_level(logging.ERROR, "hotproxy.filters.python"):
        if hook.startswith("decode"):
            stream.run_request(filter_, [b"body"])
        else:
            stream.run_request(filter_)
            stream.run_response(filter_)
    assert stream.local_reply == (500, b"python filter error", [], "python_filter_exception", "UPE")
    assert (built.stats.errors, built.stats.resets) == (1, 0)
    [record] = caplog.records
    assert "python filter pyf" in record.getMessage() and hook in record.getMessage()
    assert f"KeyError: 'boom in {hook}'" in caplog.text and "Traceback" in caplog.text


def test_after_an_exception_the_users_hooks_are_not_called_again(tmp_path):
    built = make(tmp_path, """
        class F:
            calls = 0
            def __init__(self, config):
                pass
            def decode_headers(self, stream, end_stream):
                raise RuntimeError("once")
            def encode_headers(self, stream, response, end_stream):
                raise RuntimeError("the error reply must not reach me")
    """)
    stream = FakeStream()
    filter_ = built.create(stream)
    filter_.decode_headers(stream, True)
    assert filter_.encode_headers(stream, None, True) is CONTINUE
    assert built.stats.errors == 1


def test_encode_data_raising_after_the_head_went_on_is_a_reset(tmp_path):
    built = make(tmp_path, RAISES_IN, config={"where": "encode_data"})
    stream = FakeStream()
    filter_ = built.create(stream)
    stream.run_request(filter_)
    with pytest.raises(ResponseAborted, match="python filter pyf: encode_data failed after the response started"):
        stream.run_response(filter_, pieces=[b"data"])
    assert stream.local_reply is None
    assert (built.stats.errors, built.stats.resets) == (1, 1)
    assert filter_.encode_data(stream, b"more", True) is CONTINUE


def test_encode_data_raising_while_the_head_is_held_is_a_500_not_a_reset(tmp_path):
    built = make(tmp_path, """
        class F:
            def __init__(self, config):
                pass
            def encode_headers(self, stream, response, end_stream):
                return "stop"
            def encode_data(self, stream, data, end_stream):
                raise ValueError("no")
    """)
    stream = FakeStream()
    filter_ = built.create(stream)
    stream.run_response(filter_, pieces=[b"data"])
    assert stream.local_reply[0] == 500
    assert (built.stats.errors, built.stats.resets) == (1, 0)


def test_on_stream_end_raising_is_counted_without_a_reply(tmp_path):
    built = make(tmp_path, RAISES_IN, config={"where": "on_stream_end"})
    stream = FakeStream()
    built.create(stream).on_stream_end(stream)
    assert stream.local_reply is None and built.stats.errors == 1


def test_new_stream_raising_is_a_500(tmp_path):
    built = make(tmp_path, """
        class F:
            def __init__(self, config):
                pass
            def new_stream(self, stream):
                raise SystemExit(3)
    """)
    stream = FakeStream()
    assert stream.run_request(built.create(stream)) == (None, b"")
    assert stream.local_reply[0] == 500 and built.stats.errors == 1


def test_stats_prefix_and_the_filter_name_for_per_route_config(tmp_path):
    built = make(tmp_path, """
        class F:
            def __init__(self, config):
                self.greeting = config["greeting"]
            def decode_headers(self, stream, end_stream):
                per_route = stream.route_config(self.filter_name)
                greeting = per_route.config["greeting"] if per_route else self.greeting
                stream.request.headers.append((b"x-greeting", greeting.encode()))
    """, config={"greeting": "hello"}, name="greeter")
    [(prefix, stats)] = built.stat_sets()
    assert prefix == "http.ingress.python.greeter." and stats is built.stats
    assert stats.counters == ("errors", "resets")
    plain = FakeStream()
    plain.run_request(built.create(plain))
    routed = FakeStream(per_route={"greeter": PythonPerRoute(frozen({"greeting": "bonjour"}))})
    routed.run_request(built.create(routed))
    assert (b"x-greeting", b"hello") in plain.request.headers
    assert (b"x-greeting", b"bonjour") in routed.request.headers


def test_a_worker_that_cannot_load_the_module_says_why(tmp_path):
    with pytest.raises(LoadError) as info:
        factory(Python("F", path=str(tmp_path / "gone.py")), FilterContext(None, "http.x.", None))
    assert info.value.field == "path" and "no such file" in info.value.reason


def test_stop_results_pass_through(tmp_path):
    built = make(tmp_path, """
        class F:
            def __init__(self, config):
                pass
            def decode_headers(self, stream, end_stream):
                return "stop"
    """)
    stream = FakeStream()
    assert built.create(stream).decode_headers(stream, False) is STOP


@pytest.mark.parametrize("extra", [
    "",
    "    __slots__ = ('n', 'filter_name')\n",
    "    def __copy__(self):\n        twin = F.__new__(F)\n        twin.n = self.n\n        twin.copied = True\n        return twin\n",
], ids=["plain", "slots", "own-copy"])
def test_per_stream_copies_of_any_class(tmp_path, extra):
    built = make(tmp_path, "class F:\n" + extra + """
    def __init__(self, config):
        self.n = 0
    def decode_headers(self, stream, end_stream):
        self.n += 1
        stream.request.headers.append((b"x-n", b"%d" % self.n))
""", name="counter")
    streams = [FakeStream() for _ in range(3)]
    for stream in streams:
        stream.run_request(built.create(stream))
        assert (b"x-n", b"1") in stream.request.headers
    assert built.instance.n == 0 and built.stats.errors == 0
