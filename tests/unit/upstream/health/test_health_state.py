"""A host's health as Envoy's ActiveHealthCheckSession keeps it: the first check decides at once,
thresholds after that, ACTIVE failures eject at once, and what goes to the event log."""
from hotproxy.upstream.health.state import (ACTIVE, CHANGE_PENDING, CHANGED, NETWORK, UNCHANGED, Event,
                                            HostHealth)


def test_a_host_starts_failed_and_its_first_pass_makes_it_healthy_whatever_the_threshold():
    health = HostHealth(unhealthy_threshold=3, healthy_threshold=5)
    assert not health.healthy and health.flags == "/failed_active_hc"
    assert health.passed() == (CHANGED, [Event("add_healthy", first_check=True)])
    assert health.healthy and health.flags == "healthy"


def test_a_first_failure_keeps_it_failed_and_is_always_logged():
    health = HostHealth(3, 2)
    transition, events = health.failed_check(NETWORK)
    assert transition == UNCHANGED and not health.healthy
    assert events == [Event("health_check_failure", first_check=True, failure_type=NETWORK)]
    # later failures of a failed host log nothing unless always_log_health_check_failures
    assert health.failed_check(NETWORK) == (UNCHANGED, [])


def test_network_failures_eject_at_the_threshold():
    health = HostHealth(unhealthy_threshold=3, healthy_threshold=2)
    health.passed()
    assert health.failed_check(NETWORK) == (CHANGE_PENDING, [])
    assert health.failed_check(NETWORK) == (CHANGE_PENDING, [])
    transition, events = health.failed_check(NETWORK)
    assert transition == CHANGED and not health.healthy
    assert events == [Event("eject_unhealthy", failure_type=NETWORK)]


def test_a_pass_resets_the_failure_count():
    health = HostHealth(2, 2)
    health.passed()
    health.failed_check(NETWORK)
    health.passed()
    assert health.failed_check(NETWORK)[0] == CHANGE_PENDING
    assert health.healthy


def test_an_active_failure_ejects_at_once():
    health = HostHealth(unhealthy_threshold=5, healthy_threshold=2)
    health.passed()
    transition, events = health.failed_check(ACTIVE, http_status=503)
    assert transition == CHANGED and not health.healthy
    assert events == [Event("eject_unhealthy", failure_type=ACTIVE, http_status=503)]


def test_immediate_fail_excludes_until_the_host_is_healthy_again():
    health = HostHealth(5, 2)
    health.passed()
    health.failed_check(ACTIVE, 503, immediate_fail=True)
    assert health.flags == "/failed_active_hc/excluded_via_immediate_hc_fail"
    assert health.passed() == (CHANGE_PENDING, [])
    assert health.excluded
    assert health.passed() == (CHANGED, [Event("add_healthy", first_check=False)])
    assert health.flags == "healthy" and not health.excluded


def test_an_unhealthy_host_needs_healthy_threshold_passes_in_a_row():
    health = HostHealth(1, 3)
    health.passed()
    health.failed_check(NETWORK)
    assert not health.healthy
    assert health.passed()[0] == CHANGE_PENDING
    health.failed_check(NETWORK)          # resets the count
    assert [health.passed()[0] for _ in range(3)] == [CHANGE_PENDING, CHANGE_PENDING, CHANGED]
    assert health.healthy


def test_a_threshold_of_zero_is_never_reached_by_counting():
    health = HostHealth(unhealthy_threshold=0, healthy_threshold=0)
    health.passed()
    assert [health.failed_check(NETWORK)[0] for _ in range(3)] == [CHANGE_PENDING] * 3
    assert health.healthy


def test_always_log_failures():
    health = HostHealth(2, 2, always_log_failures=True)
    health.passed()
    assert health.failed_check(NETWORK) == (CHANGE_PENDING, [
        Event("health_check_failure", first_check=False, failure_type=NETWORK)])
    transition, events = health.failed_check(NETWORK)
    assert [event.kind for event in events] == ["eject_unhealthy", "health_check_failure"]


def test_a_resumed_state_skips_the_first_check_shortcut():
    health = HostHealth(2, 3)
    health.resume(healthy=False)
    assert health.passed() == (CHANGE_PENDING, [])
    resumed = HostHealth(2, 3)
    resumed.resume(healthy=True)
    assert resumed.healthy and resumed.failed_check(NETWORK)[0] == CHANGE_PENDING
