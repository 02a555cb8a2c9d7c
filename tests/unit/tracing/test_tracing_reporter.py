"""The reporter: batches at min_flush_spans, one report out at a time, a bounded queue whatever
the collector does."""
import gevent
import gevent.event
import pytest

from hotproxy import runtime
from hotproxy.tracing.reporter import MAX_PENDING, Reporter
from hotproxy.tracing.stats import ZipkinStats


@pytest.fixture(autouse=True)
def empty_runtime():
    runtime.install({})
    yield
    runtime.install({})


class Collector:
    def __init__(self, answer="sent"):
        self.batches = []
        self.outcomes = []
        self.answer = answer
        self.release = gevent.event.Event()
        self.release.set()

    def export(self, batch):
        self.batches.append(list(batch))
        self.release.wait()
        return self.answer

    def count(self, outcome, spans):
        self.outcomes.append((outcome, spans))


def reporter(collector):
    stats = ZipkinStats()
    return Reporter("zipkin", stats, collector.export, collector.count), stats


def test_a_batch_leaves_at_min_flush_spans():
    collector = Collector()
    r, stats = reporter(collector)
    for span in range(4):
        r.report(span)
    gevent.sleep(0)
    assert collector.batches == []
    r.report(4)
    gevent.sleep(0)
    assert collector.batches == [[0, 1, 2, 3, 4]]
    assert collector.outcomes == [("sent", 5)]
    assert stats.spans_sent == 5
    r.stop()


def test_spans_that_end_while_a_report_is_out_leave_together_after_it():
    collector = Collector()
    collector.release.clear()
    r, stats = reporter(collector)
    for span in range(5):
        r.report(span)
    gevent.sleep(0.01)
    for span in range(5, 17):
        r.report(span)
    assert len(collector.batches) == 1
    collector.release.set()
    gevent.sleep(0.01)
    assert collector.batches == [list(range(5)), list(range(5, 17))]
    assert stats.spans_sent == 17
    r.stop()


def test_a_collector_that_never_answers_costs_bounded_memory_and_counted_failures():
    collector = Collector()
    collector.release.clear()       # the first report never comes back
    r, stats = reporter(collector)
    for span in range(5 + 3 * MAX_PENDING):
        r.report(span)
        assert len(r.pending) < MAX_PENDING
    assert collector.outcomes == [("failed", MAX_PENDING)] * 3
    assert stats.spans_sent == 5 + 3 * MAX_PENDING
    r.stop()


def test_an_export_that_raises_counts_a_failure_and_the_reporter_goes_on():
    class Broken(Collector):
        def export(self, batch):
            raise ValueError("collector answered garbage")
    collector = Broken()
    r, _ = reporter(collector)
    for span in range(10):
        r.report(span)
    gevent.sleep(0.01)
    assert collector.outcomes == [("failed", 5), ("failed", 5)]
    r.stop()


def test_the_timer_flushes_what_waits():
    runtime.install({"tracing.zipkin.flush_interval_ms": 10})
    collector = Collector()
    r, stats = reporter(collector)
    r.report("lonely")
    with gevent.Timeout(10):
        while not collector.batches:
            gevent.sleep(0.01)
    assert collector.batches[0] == ["lonely"]
    assert stats.timer_flushed >= 1
    r.stop()
