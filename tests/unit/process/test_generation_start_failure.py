"""A generation whose worker exits before it is ready fails its wait at once, saying which."""
import gevent

from hotproxy.config import parse_text
from hotproxy.process.generation import Generation


def test_a_worker_that_exits_starting_ends_the_wait_at_once():
    generation = Generation(3, parse_text("{}"), "{}", 2, {})
    generation.children[0].ready.set()
    waiting = gevent.spawn(generation.wait_ready, 30)
    gevent.idle()
    assert not waiting.ready()          # worker 1 has not reported
    generation.worker_exited_starting("worker 1 exited with 1 before it was ready")
    gevent.idle()
    assert waiting.ready() and waiting.value is False      # not after the 30 s
    assert generation.start_failure == "worker 1 exited with 1 before it was ready"


def test_ready_workers_end_the_wait_with_success():
    generation = Generation(4, parse_text("{}"), "{}", 2, {})
    for child in generation.children:
        gevent.spawn_later(0.05, child.ready.set)
    assert generation.wait_ready(timeout=30) and generation.start_failure is None
