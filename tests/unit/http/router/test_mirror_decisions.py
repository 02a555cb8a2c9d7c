"""Mirroring decisions and the shadow's request head (expected values probed on Envoy 1.40:
Host example.com:8080 reached the shadow as example.com-shadow:8080, [::1]:80 as
[::1]-shadow:80)."""
import random

from hotproxy.config.route import MirrorPolicy
from hotproxy.http.router.mirroring import MirrorPolicies, shadow_head, shadow_host


def test_shadow_host():
    assert shadow_host(b"example.com") == b"example.com-shadow"
    assert shadow_host(b"example.com:8080") == b"example.com-shadow:8080"
    assert shadow_host(b"[::1]:80") == b"[::1]-shadow:80"
    assert shadow_host(b"[::1]") == b"[::1]-shadow"
    assert shadow_host(b"10.0.0.1") == b"10.0.0.1-shadow"


def test_shadow_head():
    head = b"POST /a HTTP/1.1\r\nx-host: keep\r\nhost: example.com:8080\r\nx: y\r\n\r\n"
    assert shadow_head(head, True) == (
        b"POST /a HTTP/1.1\r\nx-host: keep\r\nhost: example.com-shadow:8080\r\nx: y\r\n\r\n")
    assert shadow_head(head, False) is head


def test_targets():
    policies = MirrorPolicies([MirrorPolicy(cluster="shadow"),
                               MirrorPolicy(cluster_header="x-mirror-to", host_suffix=False)])
    assert policies.targets([]) == [("shadow", True)]
    assert policies.targets([(b"x-mirror-to", b"other")]) == [("shadow", True), ("other", False)]
    assert policies.targets([(b"x-mirror-to", b"")]) == [("shadow", True)]


def test_runtime_fraction():
    never = MirrorPolicies([MirrorPolicy(cluster="s", numerator=0)])
    assert all(never.targets([]) == [] for _ in range(100))
    rng = random.Random(7)
    quarter = MirrorPolicies([MirrorPolicy(cluster="s", numerator=2500, denominator=10_000)], rng)
    mirrored = sum(bool(quarter.targets([])) for _ in range(4000))
    assert 800 < mirrored < 1200
    always = MirrorPolicies([MirrorPolicy(cluster="s", numerator=1_000_000, denominator=1_000_000)])
    assert all(always.targets([]) for _ in range(100))
