"""retrying.py's bookkeeping without sockets: the body kept for a replay, and the expected
timeout a retry announces."""
import random
import time
from types import SimpleNamespace

from hotproxy.config.route import RetryPolicy
from hotproxy.http.router.retry import RoutePolicy
from hotproxy.http.router.retrying import Replay, Retries, _expected_ms
from hotproxy.stats.schema import ClusterStats


class Breaker:
    def __init__(self):
        self.active = 0

    def try_start_retry(self):
        self.active += 1
        return True

    def end_retry(self):
        self.active -= 1


class Stream:
    """Hashable by identity, as ActiveStream is."""

    def __init__(self, stats):
        self.cluster = SimpleNamespace(stats=stats)


def replay_for(retry_on=("5xx",), limit=10):
    stats = ClusterStats()
    head = SimpleNamespace(headers=[], host=b"h", method=b"POST")
    state = RoutePolicy(RetryPolicy(retry_on=retry_on)).begin(head, b"/", stats, Breaker(),
                                                               random.Random(1))
    stream = Stream(stats)
    retries = Retries(router=None)
    replay = Replay(state, b"/", [], limit, None)
    retries.replays[stream] = replay
    return retries, stream, replay, stats


def test_body_kept_up_to_the_limit_then_abandoned():
    retries, stream, replay, stats = replay_for(limit=10)
    retries.keep(stream, b"12345", 5)
    retries.keep(stream, b"67890", 5)
    assert replay.body == [b"12345", b"67890"] and replay.state.enabled
    retries.keep(stream, b"x", 1)
    assert replay.body is None and not replay.state.enabled
    assert stats.retry_or_shadow_abandoned == 1
    retries.keep(stream, b"y", 1)                   # counted once
    assert stats.retry_or_shadow_abandoned == 1


def test_chunk_framing_is_kept_but_not_counted():
    retries, stream, replay, _ = replay_for(limit=4)
    retries.keep(stream, b"4\r\nabcd\r\n", 4)
    assert replay.body == [b"4\r\nabcd\r\n"]


def test_a_route_that_cannot_retry_keeps_the_body_without_counting_abandonment():
    retries, stream, replay, stats = replay_for(retry_on=(), limit=2)
    retries.keep(stream, b"abc", 3)
    assert replay.body is None and stats.retry_or_shadow_abandoned == 0


def test_forget_gives_back_a_held_retry_slot():
    retries, stream, replay, _ = replay_for()
    replay.state.on_response(503, [])
    assert replay.state.breaker.active == 1
    retries.forget(stream)
    assert replay.state.breaker.active == 0 and stream not in retries.replays


def test_expected_timeout_of_a_retry():
    route = SimpleNamespace(timeout=2.0)
    started = time.monotonic() - 0.5
    replay = SimpleNamespace(per_try=None)
    assert 1400 <= _expected_ms(route, replay, started) <= 1500     # what is left
    replay.per_try = 0.25
    assert _expected_ms(route, replay, started) == 250              # the per-try timeout
    assert _expected_ms(SimpleNamespace(timeout=0.1), SimpleNamespace(per_try=None), started) == 1
    assert _expected_ms(SimpleNamespace(timeout=0), replay, started) == 250
