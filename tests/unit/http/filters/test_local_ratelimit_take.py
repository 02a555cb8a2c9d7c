"""The shared bucket's one-read step (SharedCells.take): what another worker added and has not
taken back yet counts, so that two workers racing for the last token both refuse."""
from test_local_ratelimit_bucket import Clock, bucket, workers

S = 1_000_000_000


def test_a_racing_workers_addition_counts_before_it_is_taken_back():
    clock = Clock()
    _, (a, b) = workers(2)
    first = bucket(max_tokens=2, clock=clock, cells=a)
    second = bucket(max_tokens=2, clock=clock, cells=b)
    assert first.consume()                      # one token left
    b.add(second.cost)                          # the other worker is mid-take of it
    assert not first.consume()
    b.add(-second.cost)                         # it refused too, and took its addition back
    assert first.consume() and not second.consume()


def test_a_full_bucket_is_raised_once_however_many_workers_raise_it():
    clock = Clock()
    _, (a, b) = workers(2)
    first = bucket(max_tokens=3, clock=clock, cells=a)
    second = bucket(max_tokens=3, clock=clock, cells=b)
    clock.now += 3600 * S                       # full of long ago for both
    assert [first.consume(), second.consume(), first.consume(), second.consume()] == \
        [True, True, True, False]
    assert first.remaining() == second.remaining() == 0


def test_a_refused_take_leaves_the_bucket_as_it_was():
    clock = Clock()
    b = bucket(max_tokens=1, clock=clock)
    assert b.consume() and not b.consume() and not b.consume()
    clock.now += S
    assert b.consume() and not b.consume()
