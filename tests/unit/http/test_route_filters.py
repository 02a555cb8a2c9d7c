"""The filters run_filters gives a stream (http/route_filters.py): each factory asked once per
route table (``for_route``), the filters made per stream made in config order (a factory may
count on the ones before it: the compressors register so), the shared ones in their places, and
a maker's None leaving its filter out."""
from types import SimpleNamespace

import pytest

from hotproxy.http import filtered_stream
from hotproxy.http.filters.api import CONTINUE, FilterFactory, HttpFilter
from hotproxy.http.http1.heads import RequestHead
from hotproxy.http.route_filters import route_filters
from hotproxy.http.stream import ActiveStream


class Seen(HttpFilter):
    def __init__(self, name, log):
        self.name, self.log = name, log

    def decode_headers(self, stream, end_stream):
        self.log.append(("decode", self.name))
        return CONTINUE


class Made(FilterFactory):
    def __init__(self, name, log, leave_out=False):
        self.name, self.log, self.leave_out, self.asked = name, log, leave_out, 0

    def for_route(self, config):
        self.asked += 1
        return super().for_route(config)

    def create(self, stream):
        self.log.append(("create", self.name))
        return None if self.leave_out else Seen(self.name, self.log)


class Shared(FilterFactory):
    def __init__(self, name, log):
        self.name = name
        self.shared = Seen(name, log)


@pytest.fixture
def log(monkeypatch):
    log = []
    monkeypatch.setattr(filtered_stream, "forwarded_headers", lambda conn, stream: None)
    monkeypatch.setattr(filtered_stream, "route_request",
                        lambda conn, stream, target, decorate: log.append(("router",)))
    return log


class Manager:
    """conn_manager's side of it: chain_for and its cache."""

    def __init__(self, factories):
        self.factories, self.chains = factories, {}

    def chain_for(self, route):
        chain = self.chains[id(None)] = route_filters(self.factories, route)
        return chain


#: factories → its Manager: one a listener, whose cache outlives its streams
MANAGERS = {}


def run(factories):
    head = RequestHead()
    head.method, head.target, head.host, head.keep_alive = b"GET", b"/", b"h", True
    stream = ActiveStream(head, 0.0)
    hcm = MANAGERS.get(factories) or MANAGERS.setdefault(factories, Manager(factories))
    conn = SimpleNamespace(hcm=hcm, sock=None)
    filtered_stream.run_filters(conn, stream, b"/")
    return stream


def test_makers_run_in_config_order_and_a_left_out_filter_is_skipped(log):
    first, last = Made("a", log), Made("d", log, leave_out=True)
    factories = (first, Shared("b", log), Made("c", log), last)
    for _ in range(2):      # the second stream uses what the first one's learnt
        log.clear()
        stream = run(factories)
        assert log == [("create", "a"), ("create", "c"), ("create", "d"),
                       ("decode", "a"), ("decode", "b"), ("decode", "c"), ("router",)]
        assert [made.name for made in stream.filters.filters] == ["a", "b", "c"]
    assert first.asked == last.asked == 1   # once per route table, not per stream


def test_a_chain_of_shared_filters_is_the_same_list_for_every_stream(log):
    factories = (Shared("x", log), Shared("y", log))
    one, two = run(factories), run(factories)
    assert one.filters.filters is two.filters.filters
    assert log == [("decode", "x"), ("decode", "y"), ("router",)] * 2


class OneForAll(FilterFactory):
    """A maker that gives every stream the same filter (``shared_by_streams``), or a new one."""

    def __init__(self, name, log, shared):
        self.name, self.log, self.shared_made = name, log, shared
        self.made = Seen(name, log)
        self.made.shared_by_streams = shared

    def for_route(self, config):
        return None, self.make

    def make(self, stream):
        if self.shared_made:
            return self.made
        made = Seen(self.name, self.log)
        return made


@pytest.mark.parametrize("shared", [True, False])
def test_one_maker_s_shared_filter_keeps_its_list_a_new_one_gets_its_own(log, shared):
    factories = (Shared("a", log), OneForAll("b", log, shared), Shared("c", log))
    one, two = run(factories), run(factories)
    assert log == [("decode", "a"), ("decode", "b"), ("decode", "c"), ("router",)] * 2
    assert [made.name for made in two.filters.filters] == ["a", "b", "c"]
    assert (one.filters.filters is two.filters.filters) is shared
    assert (one.filters.filters[1] is two.filters.filters[1]) is shared


def test_one_maker_leaving_its_filter_out(log):
    factories = (Shared("a", log), Made("b", log, leave_out=True), Shared("c", log))
    one, two = run(factories), run(factories)
    assert [made.name for made in two.filters.filters] == ["a", "c"]
    assert one.filters.filters is two.filters.filters
    assert log == [("create", "b"), ("decode", "a"), ("decode", "c"), ("router",)] * 2
