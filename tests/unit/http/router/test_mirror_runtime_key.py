"""A mirror policy's runtime_fraction with a runtime_key: the runtime's value of the key decides
(a fractional percent, or an integer percentage), else the default_value."""
import pytest

from hotproxy import runtime
from hotproxy.config.route import MirrorPolicy
from hotproxy.http.router.mirroring import MirrorPolicies


class Draws:
    """An rng whose 64-bit draws count up from 0; random() must not be used for keyed policies."""

    def __init__(self):
        self.next = 0

    def getrandbits(self, bits):
        self.next += 1
        return self.next - 1

    def random(self):
        raise AssertionError("a keyed policy draws 64 bits, as Envoy's featureEnabled")


@pytest.fixture(autouse=True)
def empty_snapshot():
    runtime.install({})
    yield
    runtime.install({})


def mirrored(policies, requests=1000):
    return sum(bool(policies.targets([])) for _ in range(requests))


def test_the_default_applies_until_the_runtime_has_the_key():
    policies = MirrorPolicies([MirrorPolicy(cluster="s", numerator=10, runtime_key="mirror.s")],
                              Draws())
    assert mirrored(policies) == 100
    runtime.install({"mirror.s": {"numerator": 5, "denominator": "TEN_THOUSAND"}})
    assert mirrored(policies, 10_000) == 5
    runtime.install({"mirror.s": 0})
    assert mirrored(policies) == 0
    runtime.install({"mirror.s": 101})
    assert mirrored(policies) == 1000


def test_policies_without_a_key_are_drawn_as_before():
    class Unkeyed(Draws):
        def getrandbits(self, bits):
            raise AssertionError("unkeyed policies keep their draw")

        def random(self):
            return 0.5

    policies = MirrorPolicies([MirrorPolicy(cluster="s", numerator=60),
                               MirrorPolicy(cluster="t", numerator=40)], Unkeyed())
    assert policies.targets([]) == [("s", True)]
