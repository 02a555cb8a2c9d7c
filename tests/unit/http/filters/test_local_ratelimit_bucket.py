"""token_bucket.py with a fake clock: Envoy 1.40's continuous refill, x-ratelimit numbers, and
one bucket shared by two worker processes through the shared counter table."""
from hotproxy.config.http_filters.local_ratelimit import TokenBucket as BucketConfig
from hotproxy.listener.connection_counts import ConnectionCounts, WorkerCounts
from hotproxy.process.ratelimit_buckets import SharedCells, bucket_keys
from hotproxy.token_bucket import TokenBucket

S = 1_000_000_000


class Clock:
    def __init__(self, now=1000 * S):
        self.now = now

    def __call__(self):
        return self.now


def bucket(max_tokens=3, per_fill=1, interval=1.0, clock=None, cells=None):
    return TokenBucket(BucketConfig(max_tokens, interval, per_fill), cells, clock or Clock())


def test_starts_full_and_refuses_when_empty():
    b = bucket()
    assert [b.consume() for _ in range(4)] == [True, True, True, False]


def test_refills_continuously_at_tokens_per_fill_over_fill_interval():
    clock = Clock()
    b = bucket(max_tokens=2, per_fill=2, interval=1.0, clock=clock)
    assert b.consume() and b.consume() and not b.consume()
    clock.now += S // 4           # half a token
    assert not b.consume()
    clock.now += S // 4           # one token
    assert b.consume() and not b.consume()


def test_never_holds_more_than_max_tokens():
    clock = Clock()
    b = bucket(max_tokens=2, clock=clock)
    clock.now += 3600 * S
    assert [b.consume() for _ in range(3)] == [True, True, False]


def test_remaining_and_reset_seconds_as_envoy_rounds_them():
    clock = Clock()
    b = bucket(max_tokens=2, interval=10.0, clock=clock)
    assert b.remaining() == 2 and b.reset_seconds() == 0
    b.consume()
    assert b.remaining() == 1 and b.reset_seconds() == 0
    b.consume()
    assert b.remaining() == 0 and b.reset_seconds() == 10
    clock.now += int(1.5 * S)           # 8.5 s to go: whole ms, then seconds up
    assert b.reset_seconds() == 9
    clock.now += 8 * S
    assert b.reset_seconds() == 1 and b.remaining() == 0
    clock.now += S
    assert b.remaining() == 1 and b.reset_seconds() == 0


def workers(count):
    """``count`` workers' cells of one bucket in one arbiter table."""
    table = ConnectionCounts()
    columns = {"bucket": table.column("bucket"), "bucket raised": table.column("bucket raised")}
    cells = []
    for owner in range(count):
        slot = table.claim_slot(owner)
        counts = WorkerCounts(table.fd, slot, columns)
        cells.append(SharedCells(counts, columns["bucket"], columns["bucket raised"]))
    return table, cells


def test_two_workers_share_one_bucket():
    clock = Clock()
    _, (a, b) = workers(2)
    first, second = bucket(max_tokens=4, clock=clock, cells=a), bucket(max_tokens=4, clock=clock, cells=b)
    taken = [first.consume(), second.consume(), first.consume(), second.consume(),
             first.consume(), second.consume()]
    assert taken == [True, True, True, True, False, False]
    clock.now += S
    assert second.consume() and not first.consume()
    assert first.remaining() == second.remaining() == 0


def test_two_raises_at_once_do_not_add_up():
    clock = Clock()
    _, (a, b) = workers(2)
    first, second = bucket(max_tokens=2, clock=clock, cells=a), bucket(max_tokens=2, clock=clock, cells=b)
    floor = clock.now + 2**61 - 2 * S
    assert a.total() < floor and b.total() < floor      # both see it full of long ago
    a.raise_to(floor)
    b.raise_to(floor)
    assert a.total() == b.total() == floor
    assert [first.consume(), second.consume(), first.consume()] == [True, True, False]


def test_a_worker_that_exits_gives_back_what_it_took():
    clock = Clock()
    table, (a, b) = workers(2)
    first, second = bucket(max_tokens=2, clock=clock, cells=a), bucket(max_tokens=2, clock=clock, cells=b)
    assert first.consume() and first.consume() and not second.consume()
    table.release_slot(0)
    assert second.consume()


HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
LRL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
BUCKET = {"max_tokens": 1, "fill_interval": "1s"}


def bootstrap_with_limits(per_connection=False):
    route_limit = {"@type": LRL, "stat_prefix": "route", "token_bucket": BUCKET}
    return {"static_resources": {"listeners": [{
        "name": "http", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": HCM, "stat_prefix": "in",
                "route_config": {"virtual_hosts": [{
                    "name": "v", "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "c"},
                                "typed_per_filter_config": {"rl": route_limit}}]}]},
                "http_filters": [
                    {"name": "rl", "typed_config": {
                        "@type": LRL, "stat_prefix": "filter", "token_bucket": BUCKET,
                        "local_rate_limit_per_downstream_connection": per_connection,
                        "descriptors": [{"entries": [{"key": "k", "value": "v"}],
                                         "token_bucket": BUCKET}]}},
                    {"name": "router", "typed_config": {"@type": ROUTER}}]}}]}]}],
        "clusters": [{"name": "c", "load_assignment": {"cluster_name": "c", "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": "127.0.0.1", "port_value": 2}}}}]}]}}]}}


def test_bucket_keys_come_from_every_local_ratelimit_config():
    from hotproxy.config import parse_bootstrap
    keys = bucket_keys(parse_bootstrap(bootstrap_with_limits()))
    # the filter's default and descriptor buckets, the route's, two counters each
    assert len(keys) == len(set(keys)) == 6
    assert all(key.startswith("local_ratelimit ") for key in keys)
    # buckets per connection live in the worker
    assert len(bucket_keys(parse_bootstrap(bootstrap_with_limits(per_connection=True)))) == 2


def test_a_bucket_is_full_however_recently_the_machine_booted():
    b = bucket(max_tokens=3, interval=3600.0, clock=Clock(now=5 * S))
    assert [b.consume() for _ in range(4)] == [True, True, True, False]


def test_processes_racing_for_tokens_never_take_more_than_there_are():
    """Two real processes hammering one shared bucket: exactly max_tokens are taken."""
    import os

    table = ConnectionCounts()
    columns = {"bucket": table.column("bucket"), "bucket raised": table.column("bucket raised")}
    children = []
    go_read, go_write = os.pipe()          # both start together
    for owner in range(2):
        slot = table.claim_slot(owner)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                cells = SharedCells(WorkerCounts(table.fd, slot, columns), columns["bucket"],
                                    columns["bucket raised"])
                b = TokenBucket(BucketConfig(3000, 3600.0, 1), cells)
                os.read(go_read, 1)
                os.write(write_end, b"%d" % sum(b.consume() for _ in range(20000)))
            finally:
                os._exit(0)
        os.close(write_end)
        children.append((pid, read_end))
    os.write(go_write, b"go")
    taken = []
    for pid, read_end in children:
        os.waitpid(pid, 0)
        taken.append(int(os.read(read_end, 64)))
        os.close(read_end)
    # Which process gets how many is the scheduler's (under load one may take them all); that
    # together they never take more than the bucket held is the bucket's.
    assert sum(taken) == 3000, taken


def test_a_changed_config_gets_buckets_of_its_own():
    from hotproxy.config import parse_bootstrap
    same = bucket_keys(parse_bootstrap(bootstrap_with_limits()))
    assert bucket_keys(parse_bootstrap(bootstrap_with_limits())) == same
    changed = bootstrap_with_limits()
    hcm = changed["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"][0]["typed_config"]["token_bucket"] = {"max_tokens": 9, "fill_interval": "1s"}
    keys = bucket_keys(parse_bootstrap(changed))
    assert keys[0] != same[0] and keys[4:] == same[4:]       # the route's config is unchanged
