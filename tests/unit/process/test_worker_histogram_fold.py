"""A worker bins its histograms' values (one per request and histogram) in pieces, serving its
connections between them: a busy second's values binned at once stalled every connection for
about 10 ms once a second, which made the p99."""
import gevent

from hotproxy.process import worker as worker_module
from hotproxy.process.worker import Worker
from hotproxy.stats.histogram import Recorder
from hotproxy.stats.shipper import StatsShipper


def test_the_histograms_are_folded_in_pieces_with_the_connections_served_between():
    self = Worker.__new__(Worker)
    self.shipper = StatsShipper()
    recorders = [Recorder(), Recorder()]
    for index, recorder in enumerate(recorders):
        self.shipper.add_histogram(f"h{index}", recorder)
    count = worker_module.FOLD_PIECE * 5 + 1
    for index in range(count):
        for recorder in recorders:
            recorder.record(1.0 + index % 7)
    turns = []

    def connection():       # another greenlet: how often it runs while the worker folds
        while True:
            turns.append(sum(len(recorder.pending) for recorder in recorders))
            gevent.sleep(0)

    other = gevent.spawn(connection)
    gevent.sleep(0)
    turns.clear()
    gevent.spawn(self.fold_histograms).join(timeout=10)
    other.kill()
    assert all(recorder.pending == [] for recorder in recorders)
    assert sum(recorder.take()[1] for recorder in recorders) == 2 * sum(1.0 + index % 7 for index in range(count))
    # it ran with values still waiting, once after each of the first five pieces at least
    assert len({left for left in turns if left}) >= 5
