"""What a worker records into a histogram reaches /stats and Prometheus exactly as when every
value was binned as it arrived with the rounding definition below: the cheaper recording
(values binned in batches, the bin found without a decimal rounding away from bin edges) must
not move a single value to another bin, nor change the sum's last digit."""
import math
import random

from hotproxy.stats import prometheus, render
from hotproxy.stats.histogram import ZERO_BIN, Recorder, Totals, bin_of
from hotproxy.stats.shipper import SAMPLES_PER_COLLECT, StatsShipper
from hotproxy.stats.store import StatsStore
from hotproxy.stats.tags import TagExtractor


def reference_bin(value):
    """The bin definition the output has always followed (two significant digits, rounded to 9
    decimals so that 0.3 is 30 and not 29.999…, upper-inclusive)."""
    if value <= 0:
        return ZERO_BIN
    exponent = math.floor(math.log10(value))
    if exponent >= 1:
        scaled = round(value / 10 ** (exponent - 1), 9)
    else:
        scaled = round(value * 10 ** (1 - exponent), 9)
    if scaled <= 10:
        exponent, scaled = exponent - 1, scaled * 10
    elif scaled > 100:
        exponent, scaled = exponent + 1, scaled / 10
    return exponent * 100 + math.ceil(scaled) - 1


def edges_and_neighbours():
    """Every bin edge from 1 ns to 10^7 ms, written both ways a float can come to it, and the
    floats a few ulps either side, and a little further."""
    for exponent in range(-6, 8):
        for mantissa in range(10, 101):
            for edge in (float(f"{mantissa}e{exponent - 1}"), mantissa * 10.0 ** (exponent - 1),
                         mantissa / 10.0 ** (1 - exponent) if exponent < 1 else float(mantissa)):
                yield edge
                below = above = edge
                for _ in range(4):
                    below, above = math.nextafter(below, 0), math.nextafter(above, math.inf)
                    yield below
                    yield above
                for offset in (1e-12, 1e-10, 5e-10, 1e-9, 5e-9, 1e-8, 1e-7, 1e-6):
                    yield edge * (1 + offset)
                    yield edge * (1 - offset)


def test_bins_at_and_around_every_edge_are_the_reference_bins():
    for value in edges_and_neighbours():
        assert bin_of(value) == reference_bin(value), value


def test_durations_as_workers_measure_them_fall_in_the_reference_bins():
    rng = random.Random(23)
    for _ in range(200_000):
        value = 10 ** rng.uniform(-4, 6)        # 0.1 µs .. 1000 s, in ms
        assert bin_of(value) == reference_bin(value), value
    for micros in range(0, 200_000, 7):        # whole microseconds, as a coarse clock gives
        assert bin_of(micros / 1000) == reference_bin(micros / 1000), micros
    for value in (0, 0.0, -1.0, 1, 3, 250, 10 ** 12, 1e-300, 5e-324, 1e300, math.inf):
        assert outcome(bin_of, value) == outcome(reference_bin, value), value


def outcome(function, value):
    try:
        return function(value)
    except (ArithmeticError, ValueError) as error:     # a value no clock gives
        return type(error)


def per_value_reference(values, sample_limit=None):
    """What ``take`` and ``take_samples`` gave when every value was binned as it arrived."""
    bins, total, samples, dropped = {}, 0.0, [], 0
    for value in values:
        key = reference_bin(value)
        bins[key] = bins.get(key, 0) + 1
        total += value
        if sample_limit is not None:
            if len(samples) < sample_limit:
                samples.append(value)
            else:
                dropped += 1
    return (bins, total) if bins else None, (samples, dropped)


def as_bins(taken):
    """A take's ``(flat bins, sum)`` as ``({bin: count}, sum)``: the arbiter adds the bins up, so
    their order in the message is no part of the output."""
    if taken is None:
        return None
    flat, total = taken
    bins = dict(zip(flat[::2], flat[1::2]))
    assert len(bins) * 2 == len(flat), "a bin twice"
    return bins, total


def test_batched_recording_takes_the_same_bins_sum_and_samples_across_folds():
    rng = random.Random(5)
    for count in (0, 1, 1500, 5000):
        values = [rng.expovariate(1 / 3.0) for _ in range(count)]
        recorder = Recorder()
        recorder.keep_samples(2000)
        for index, value in enumerate(values):
            recorder.record(value)
            if index % 1000 == 999:
                recorder.fold()         # as a worker's every second
        expected, (samples, dropped) = per_value_reference(values, 2000)
        assert as_bins(recorder.take()) == expected
        assert recorder.take_samples() == ((samples, dropped) if values else None)
        assert recorder.take() is None and recorder.take_samples() is None


def test_values_recorded_after_a_take_start_a_new_sum():
    recorder = Recorder()
    for value in (0.1, 0.2, 0.3):
        recorder.record(value)
    assert as_bins(recorder.take()) == per_value_reference([0.1, 0.2, 0.3])[0]
    recorder.record(0.7)
    assert recorder.take() == ([reference_bin(0.7), 1], 0.7)


def test_the_shipper_folds_every_histogram_and_the_next_collect_ships_it_all():
    shipper = StatsShipper()
    recorders = [Recorder(), Recorder()]
    for index, recorder in enumerate(recorders):
        shipper.add_histogram(f"h{index}", recorder)
    values = [index / 7 for index in range(1, 3001)]
    for value in values:
        recorders[0].record(value)
    recorders[1].record(2.5)
    shipper.fold()
    assert recorders[0].pending == [] and recorders[1].pending == []
    recorders[0].record(1.25)       # after a fold, recording goes on into the new list
    assert recorders[0].pending == [1.25]
    histograms = shipper.collect()["h"]
    assert as_bins(histograms["h0"]) == per_value_reference(values + [1.25])[0]
    assert histograms["h1"] == [[reference_bin(2.5), 1], 2.5]


def test_a_sink_gets_at_most_a_collects_worth_of_values_and_the_rest_count_as_dropped():
    shipper = StatsShipper(keep_samples=True)
    recorder = Recorder()
    shipper.add_histogram("http.in.downstream_rq_time", recorder)
    values = [index / 100 + 0.001 for index in range(SAMPLES_PER_COLLECT + 2500)]
    for value in values:
        recorder.record(value)
    message = shipper.collect()
    shipped, dropped = message["hs"]["http.in.downstream_rq_time"]
    assert shipped == values[:SAMPLES_PER_COLLECT] and dropped == 2500
    assert message["h"]["http.in.downstream_rq_time"][1] == per_value_reference(values)[0][1]


def rendered(values_by_worker):
    """/stats text, its JSON and Prometheus for what each worker recorded."""
    store = StatsStore()
    for worker, values in enumerate(values_by_worker):
        shipper = StatsShipper()
        recorder = Recorder()
        shipper.add_histogram("cluster.backend.upstream_rq_time", recorder)
        for value in values:
            recorder.record(value)
        store.merge(f"w{worker}", shipper.collect())
    for totals in store.histograms.values():
        totals.rotate()
    return (render.text({}, store.histograms), render.as_json({}, store.histograms),
            prometheus.render({}, {}, store.histograms, TagExtractor()))


def reference_rendered(values_by_worker):
    histograms = {}
    for values in values_by_worker:
        delta = per_value_reference(values)[0]
        totals = histograms.setdefault("cluster.backend.upstream_rq_time", Totals())
        if delta is not None:
            bins, total = delta
            totals.add([item for pair in bins.items() for item in pair], total)
    for totals in histograms.values():
        totals.rotate()
    return (render.text({}, histograms), render.as_json({}, histograms),
            prometheus.render({}, {}, histograms, TagExtractor()))


def test_stats_and_prometheus_output_is_the_reference_output_byte_for_byte():
    rng = random.Random(11)
    edges = [value for value in edges_and_neighbours() if 0.4 < value < 70_000]
    workers = [[rng.lognormvariate(0, 2) for _ in range(5000)],
               rng.sample(edges, 3000),
               [0.5, 1.0, 5.0, 10.0, 25.0, 0.3, 0.1 + 0.2, 2500.0000000001]]
    assert rendered(workers) == reference_rendered(workers)


def test_a_fold_in_pieces_takes_the_oldest_values_and_ends_as_one_fold_would():
    rng = random.Random(7)
    values = [rng.expovariate(1 / 3.0) for _ in range(5000)]
    recorder = Recorder()
    recorder.keep_samples(2500)
    for value in values[:4000]:
        recorder.record(value)
    assert recorder.fold(1500) is True and len(recorder.pending) == 2500
    assert recorder.pending[0] == values[1500]          # the oldest went first
    for value in values[4000:]:
        recorder.record(value)      # recording goes on into the list a piece was cut from
    while recorder.fold(1500):
        pass
    assert recorder.pending == [] and recorder.fold(1500) is False
    expected, (samples, dropped) = per_value_reference(values, 2500)
    assert as_bins(recorder.take()) == expected
    assert recorder.take_samples() == (samples, dropped)


def test_the_shipper_says_whether_a_fold_in_pieces_left_values_unbinned():
    shipper = StatsShipper()
    recorders = [Recorder(), Recorder()]
    for index, recorder in enumerate(recorders):
        shipper.add_histogram(f"h{index}", recorder)
    for index in range(250):
        recorders[0].record(index / 10)
    recorders[1].record(2.5)
    assert shipper.fold(100) is True and len(recorders[0].pending) == 150
    assert recorders[1].pending == []
    assert shipper.fold(100) is True and shipper.fold(100) is False
