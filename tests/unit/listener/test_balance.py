"""exact_balance's turn-taking (listener/balance.py) on a real shared table: only a worker with
no more connections than every accepting peer may accept; peers that do not accept (paused,
draining, dead) are not waited for; adopted connections are load but not progress; a worker that
stood aside takes its turn regardless once nobody accepted for OVERDUE_CHECKS looks."""
import os

import pytest

from hotproxy.config import parse_text
from hotproxy.listener.balance import OVERDUE_CHECKS, ExactBalance
from hotproxy.listener.connection_counts import ConnectionCounts, WorkerCounts, balance_keys, counter_keys

CONFIG = """
static_resources:
  listeners:
  - name: balanced
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    connection_balance_config: {exact_balance: {}}
    filter_chains: [{filters: [{name: t, typed_config: {
      "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy,
      stat_prefix: t, cluster: c}}]}]
  - name: plain
    address: {socket_address: {address: 127.0.0.1, port_value: 10001}}
    filter_chains: [{filters: [{name: t, typed_config: {
      "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy,
      stat_prefix: t, cluster: c}}]}]
  clusters:
  - name: c
    load_assignment: {cluster_name: c, endpoints: [{lb_endpoints: [{endpoint: {address: {
      socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]}
"""


@pytest.fixture
def bootstrap():
    return parse_text(CONFIG)


@pytest.fixture
def table():
    counts = ConnectionCounts()
    yield counts
    os.close(counts.fd)


@pytest.fixture
def spawn(table, bootstrap):
    """spawn(owner): the balance of the balanced listener in a worker the arbiter spawned."""
    def start(owner):
        keys = counter_keys(bootstrap)
        table.claim_slot(owner)
        argv, columns = table.worker_share(owner, keys)
        balance = ExactBalance.from_counts(WorkerCounts.from_args(argv[1], columns), bootstrap.listeners[0])
        balance.join()
        return balance
    return start


def accept(balance, count=1):
    for _ in range(count):
        balance.opened(accepted=True)


def test_only_balanced_listeners_get_counters(bootstrap):
    keys = counter_keys(bootstrap)
    assert set(balance_keys(bootstrap.listeners[0])) <= set(keys)
    assert not set(balance_keys(bootstrap.listeners[1])) & set(keys)
    assert balance_keys(bootstrap.listeners[0]) == (
        "connection_balance balanced 127.0.0.1:10000 active", "connection_balance balanced 127.0.0.1:10000 accepted")


def test_a_worker_without_its_columns_has_no_balance(table, bootstrap):
    table.claim_slot("w0")
    argv, _columns = table.worker_share("w0", [])
    assert ExactBalance.from_counts(WorkerCounts.from_args(argv[1], {}), bootstrap.listeners[0]) is None
    assert ExactBalance.from_counts(None, bootstrap.listeners[0]) is None


def test_the_least_loaded_worker_has_the_turn(spawn):
    first, second, third = spawn("w0"), spawn("w1"), spawn("w2")
    assert first.my_turn() and second.my_turn() and third.my_turn()    # a tie: whoever is first
    accept(first)
    assert not first.my_turn() and second.my_turn() and third.my_turn()
    accept(second)
    accept(third)
    assert first.my_turn() and second.my_turn() and third.my_turn()
    accept(first, 3)
    accept(second, 1)
    assert [first.my_turn(), second.my_turn(), third.my_turn()] == [False, False, True]


def test_a_connection_that_ends_gives_the_turn_back(spawn):
    first, second = spawn("w0"), spawn("w1")
    accept(first, 2)
    accept(second, 1)
    assert not first.my_turn()
    first.closed()
    assert first.my_turn() and second.my_turn()
    first.closed()
    assert first.my_turn() and not second.my_turn()


def test_a_worker_that_does_not_accept_is_not_waited_for(spawn):
    first, second = spawn("w0"), spawn("w1")
    accept(first, 3)
    assert not first.my_turn()
    second.leave()                      # paused by the overload manager, or draining
    assert first.my_turn()
    second.join()                       # resumes: it is the least loaded again
    assert not first.my_turn() and second.my_turn()


def test_a_rejoining_worker_publishes_what_it_holds_meanwhile(spawn):
    first, second = spawn("w0"), spawn("w1")
    second.leave()
    accept(second, 4)                   # adopted or accepted while out: still its load
    accept(first, 2)
    second.join()
    assert first.my_turn() and not second.my_turn()


def test_a_dead_workers_count_is_forgotten(table, spawn):
    first, second = spawn("w0"), spawn("w1")
    accept(first, 2)
    assert not first.my_turn()
    table.release_slot("w1")            # the arbiter reaped it
    assert first.my_turn()


def test_adopted_connections_are_load_but_not_progress(spawn):
    first, second = spawn("w0"), spawn("w1")
    first.opened(accepted=False)
    assert not first.my_turn() and second.my_turn()
    assert first.progress() == 0
    accept(second)
    assert first.progress() == second.progress() == 1


def test_standing_aside_without_progress_makes_the_turn_overdue(spawn):
    first, second = spawn("w0"), spawn("w1")
    accept(first)
    first.stood_aside()
    for _ in range(OVERDUE_CHECKS - 1):
        first.recheck()
        assert not first.my_turn()
    first.recheck()
    assert first.my_turn() and first.overdue
    accept(first)                       # the overdue accept: back to taking turns
    assert not first.overdue and not first.my_turn() and first.overdue_accepts == 1


def test_progress_elsewhere_restarts_the_patience(spawn):
    first, second = spawn("w0"), spawn("w1")
    accept(first, 2)
    first.stood_aside()
    for _ in range(OVERDUE_CHECKS - 1):
        first.recheck()
    accept(second)                      # the least-loaded worker is alive and accepting
    first.recheck()
    assert not first.overdue
    for _ in range(OVERDUE_CHECKS - 1):
        first.recheck()
    assert not first.my_turn()


def test_a_recheck_without_standing_aside_counts_nothing(spawn):
    first, _second = spawn("w0"), spawn("w1")
    accept(first)
    for _ in range(OVERDUE_CHECKS + 1):
        first.recheck()
    assert not first.overdue and not first.my_turn()


# The accept side (manager.py's _BalancedServer), two "workers" in one gevent loop on one socket.

class Worker:
    """A balanced server that holds every connection it accepts until told to let one go."""

    def __init__(self, listening, balance):
        from gevent import socket as gsocket
        from gevent.event import Event
        from hotproxy.listener.manager import _BalancedServer
        self.held = []
        self._release = []

        def handle(sock, address):
            done = Event()
            self.held.append(sock)
            self._release.append(done)
            try:
                done.wait()
            finally:
                self.server.connection_ended()

        self.server = _BalancedServer(gsocket.socket(fileno=os.dup(listening.fileno())), handle, "default",
                                      balance)
        self.server.start()

    def let_go(self):
        self._release.pop(0).set()
        self.held.pop(0).close()

    def stall(self):
        """Stop accepting while still counting as an accepting worker (a stuck process)."""
        self.server._watcher.stop()


@pytest.fixture
def pair(spawn):
    import socket
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(64)
    workers = [Worker(listening, spawn("w0")), Worker(listening, spawn("w1"))]
    clients = []

    def connect():
        import gevent
        from gevent import socket as gsocket
        client = gsocket.create_connection(listening.getsockname())
        clients.append(client)
        gevent.sleep(0)
        return client

    yield workers, connect
    for worker in workers:
        worker.server.close()
    for client in clients:
        client.close()
    listening.close()


def wait_until(check):
    import gevent
    for _ in range(2000):
        if check():
            return True
        gevent.sleep(0.005)
    return False


def test_connections_alternate_between_two_idle_workers(pair):
    workers, connect = pair
    for count in range(1, 7):
        connect()
        assert wait_until(lambda: sum(len(w.held) for w in workers) == count)
        assert abs(len(workers[0].held) - len(workers[1].held)) <= 1


def test_a_worker_standing_aside_gets_its_turn_back_when_one_of_its_connections_ends(pair):
    (first, second), connect = pair
    for _ in range(3):
        connect()
    assert wait_until(lambda: len(first.held) + len(second.held) == 3)
    more, fewer = (first, second) if len(first.held) > len(second.held) else (second, first)
    fewer.stall()                       # the least-loaded worker does not accept for now
    connect()
    assert wait_until(lambda: more.server._recheck is not None)    # it stood aside
    before = len(more.held)
    more.let_go()                       # now it is the least loaded
    assert wait_until(lambda: len(more.held) == before)
    assert more.server.balance.overdue_accepts == 0      # taken on its turn, not as overdue


def test_a_stuck_least_loaded_worker_does_not_hold_connections_forever(pair):
    (first, second), connect = pair
    connect()
    assert wait_until(lambda: len(first.held) + len(second.held) == 1)
    loaded, idle = (first, second) if first.held else (second, first)
    idle.stall()
    connect()                           # idle has the turn but never accepts
    assert wait_until(lambda: len(loaded.held) == 2)
    assert idle.held == [] and loaded.server.balance.overdue_accepts == 1
