"""RING_HASH and MAGLEV (upstream/lb/ring_hash.py, maglev.py): a key goes where Envoy 1.40
sends it. The expected picks were recorded from Envoy 1.40 with a route hash_policy on the header
x-key (Envoy hashes it with xxHash64) over 127.0.0.1:19181, :19182 and :19184 (weight 2)."""
import random

import pytest
import xxhash

from hotproxy.upstream.host import Host
from hotproxy.upstream.lb import make_load_balancer
from hotproxy.upstream.lb.maglev import MaglevLoadBalancer, build_table
from hotproxy.upstream.lb.ring_hash import RingHashLoadBalancer, build_ring, murmur_hash2

ENVOY_RING_HASH = {"key0": 19182, "key1": 19184, "key2": 19184, "key3": 19182, "key4": 19184, "key5": 19184, "key6": 19181, "key7": 19184, "key8": 19182, "key9": 19184, "key10": 19184, "key11": 19184, "key12": 19184, "key13": 19184, "key14": 19182, "key15": 19181, "key16": 19181, "key17": 19184, "key18": 19184, "key19": 19182, "key20": 19184, "key21": 19182, "key22": 19184, "key23": 19184, "key24": 19181, "key25": 19184, "key26": 19184, "key27": 19181, "key28": 19184, "key29": 19184, "key30": 19184, "key31": 19182, "key32": 19184, "key33": 19181, "key34": 19181, "key35": 19182, "key36": 19182, "key37": 19181, "key38": 19181, "key39": 19184}
ENVOY_MAGLEV = {"key0": 19182, "key1": 19184, "key2": 19184, "key3": 19184, "key4": 19184, "key5": 19184, "key6": 19181, "key7": 19181, "key8": 19184, "key9": 19184, "key10": 19184, "key11": 19182, "key12": 19182, "key13": 19181, "key14": 19184, "key15": 19181, "key16": 19184, "key17": 19184, "key18": 19181, "key19": 19181, "key20": 19184, "key21": 19184, "key22": 19184, "key23": 19184, "key24": 19181, "key25": 19181, "key26": 19182, "key27": 19184, "key28": 19182, "key29": 19181, "key30": 19182, "key31": 19181, "key32": 19184, "key33": 19181, "key34": 19181, "key35": 19184, "key36": 19184, "key37": 19184, "key38": 19184, "key39": 19181}
# ring_hash_lb_config: {hash_function: MURMUR_HASH_2, minimum_ring_size: 64}
ENVOY_RING_HASH_MURMUR = {"key0": 19182, "key1": 19184, "key2": 19184, "key3": 19184, "key4": 19184, "key5": 19184, "key6": 19181, "key7": 19184, "key8": 19182, "key9": 19182, "key10": 19184, "key11": 19184, "key12": 19184, "key13": 19184, "key14": 19184, "key15": 19181, "key16": 19184, "key17": 19184, "key18": 19181, "key19": 19182, "key20": 19181, "key21": 19184, "key22": 19184, "key23": 19181, "key24": 19184, "key25": 19181, "key26": 19184, "key27": 19184, "key28": 19184, "key29": 19184, "key30": 19182, "key31": 19181, "key32": 19184, "key33": 19184, "key34": 19181, "key35": 19182, "key36": 19181, "key37": 19182, "key38": 19182, "key39": 19184}


def probed_hosts():
    return [Host(("127.0.0.1", 19181), 1), Host(("127.0.0.1", 19182), 1), Host(("127.0.0.1", 19184), 2)]


def ports(balancer, keys):
    return {key: balancer.pick(xxhash.xxh64_intdigest(key.encode())).address[1] for key in keys}


def test_ring_hash_sends_keys_where_envoy_does():
    balancer = RingHashLoadBalancer(probed_hosts(), random.Random(1))
    assert ports(balancer, ENVOY_RING_HASH) == ENVOY_RING_HASH


def test_ring_hash_with_murmur_hash_2_sends_keys_where_envoy_does():
    balancer = RingHashLoadBalancer(probed_hosts(), random.Random(1), 64, 8388608, "MURMUR_HASH_2")
    assert balancer.ring_size == 64
    assert ports(balancer, ENVOY_RING_HASH_MURMUR) == ENVOY_RING_HASH_MURMUR


def test_maglev_sends_keys_where_envoy_does():
    balancer = MaglevLoadBalancer(probed_hosts(), random.Random(1))
    assert ports(balancer, ENVOY_MAGLEV) == ENVOY_MAGLEV


def test_the_ring_gives_the_lightest_host_its_share_of_the_minimum_size():
    hashes, owners = build_ring(probed_hosts(), 1024)
    assert hashes == sorted(hashes)
    # the lightest (1/4) gets ceil(1024/4) = 256 entries, the others in proportion
    counts = {port: sum(1 for host in owners if host.address[1] == port) for port in (19181, 19182, 19184)}
    assert counts == {19181: 256, 19182: 256, 19184: 512}


def test_the_ring_is_capped_by_maximum_ring_size():
    hashes, _ = build_ring(probed_hosts(), 1024, 100)
    assert len(hashes) == 100


def test_murmur_hash_2_is_libstdcxx_hash_bytes():
    # std::_Hash_bytes("", 0, 0xc70f6907) and of 8+ bytes, as Envoy's MurmurHash::murmurHash2
    assert murmur_hash2(b"") == murmur_hash2(b"", 0xC70F6907)
    assert murmur_hash2(b"127.0.0.1:80_0") != murmur_hash2(b"127.0.0.1:80_1")


def test_maglev_fills_its_table_in_weight_proportion():
    table = build_table(probed_hosts(), 65537)
    assert None not in table
    counts = {port: sum(1 for host in table if host.address[1] == port) for port in (19181, 19182, 19184)}
    assert abs(counts[19184] - 2 * counts[19181]) <= 4


@pytest.mark.parametrize("policy", ["RING_HASH", "MAGLEV"])
def test_the_same_hosts_give_the_same_picks_in_every_process(policy):
    # every worker, and every generation after a reload, builds from the config's host order
    first = make_load_balancer(policy, probed_hosts(), rng=random.Random(1))
    second = make_load_balancer(policy, probed_hosts(), rng=random.Random(2))
    keys = [xxhash.xxh64_intdigest(b"%d" % n) for n in range(500)]
    assert [first.pick(k).address for k in keys] == [second.pick(k).address for k in keys]


@pytest.mark.parametrize("policy", ["RING_HASH", "MAGLEV"])
def test_without_a_key_the_pick_is_random_and_with_no_hosts_none(policy):
    balancer = make_load_balancer(policy, probed_hosts(), rng=random.Random(3))
    assert len({balancer.pick().address for _ in range(200)}) == 3
    balancer.update([])
    assert balancer.pick() is None and balancer.pick(5) is None


@pytest.mark.parametrize("policy", ["RING_HASH", "MAGLEV"])
def test_removing_a_host_moves_only_its_keys_mostly(policy):
    hosts = probed_hosts()
    balancer = make_load_balancer(policy, hosts, rng=random.Random(1))
    keys = [xxhash.xxh64_intdigest(b"%d" % n) for n in range(2000)]
    before = [balancer.pick(k) for k in keys]
    balancer.update(hosts[1:])
    after = [balancer.pick(k) for k in keys]
    moved = sum(1 for b, a in zip(before, after) if b is not hosts[0] and b is not a)
    assert moved < len(keys) * 0.1


def test_ring_and_table_gauges_as_envoy_reports_them():
    # Envoy 1.40 on these hosts: ring_hash_lb size 1024, 256..512 hashes per host;
    # maglev_lb 16385..32767 entries per host
    from hotproxy.stats.lb import MaglevStats, RingHashStats
    ring, table = RingHashStats(), MaglevStats()
    RingHashLoadBalancer(probed_hosts(), random.Random(1), stats=ring)
    MaglevLoadBalancer(probed_hosts(), random.Random(1), stats=table)
    assert (ring.size, ring.min_hashes_per_host, ring.max_hashes_per_host) == (1024, 256, 512)
    assert (table.min_entries_per_host, table.max_entries_per_host) == (16385, 32767)
