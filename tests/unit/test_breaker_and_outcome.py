from fabric_gateway.classify import Verdict
from streams.breaker import CircuitBreaker, State
from streams.outcome import ErrorCode, Kind, RetryPolicy, after_failure


def test_opens_after_five_consecutive_transient_failures_and_recovers() -> None:
    b = CircuitBreaker(first_probe_delay=60, rand=lambda: 0.5)
    t = 0.0
    for _ in range(4):
        assert b.allow(t)
        b.record_failure(t)
    assert b.state is State.CLOSED
    b.record_failure(t)
    assert b.state is State.OPEN
    assert not b.allow(t + 59.9)
    assert b.seconds_until_probe(t + 30) == 30
    assert b.allow(t + 60)  # half-open: one probe
    assert b.state is State.HALF_OPEN
    assert not b.allow(t + 60)  # only one probe at a time
    b.record_success(t + 60.2)
    assert b.state is State.HALF_OPEN
    assert b.allow(t + 60.3)
    b.record_success(t + 60.5)
    assert b.state is State.CLOSED


def test_a_failed_probe_opens_again() -> None:
    b = CircuitBreaker(failure_threshold=1, first_probe_delay=10, max_probe_delay=10, rand=lambda: 0.5)
    b.record_failure(0)
    assert b.allow(10)
    b.record_failure(10)
    assert b.state is State.OPEN and not b.allow(15) and b.allow(20)


def test_successes_reset_the_consecutive_count() -> None:
    b = CircuitBreaker()
    for i in range(20):
        b.record_failure(i)
        b.record_failure(i)
        b.record_success(i)  # e.g. a chaincode rejection: Fabric answered
    assert b.state is State.CLOSED


def test_outcomes() -> None:
    p = RetryPolicy(max_attempts=5, base_delay=0.2, max_delay=10)
    # Issue 30, defect 3: a refusal the chaincode did not record (FORBIDDEN, a bug) is retried with
    # backoff, then FAILED as CHAINCODE_REFUSED and dead-lettered (replayed once fixed).
    refused = after_failure(Verdict.REFUSED, charged=3, policy=p, rand=0.5)
    assert refused.kind is Kind.RETRY and refused.delay == 0.5 * 0.8
    last = after_failure(Verdict.REFUSED, charged=5, policy=p, rand=0.5)
    assert (last.kind, last.error_code, last.dead_letter) == (Kind.FAILED, ErrorCode.CHAINCODE_REFUSED, True)
    # A later CONFIRMED corrects it (as any FAILED): tests/unit/test_status.py.
    conflict = after_failure(
        Verdict.REJECTED,
        charged=1,
        policy=p,
        rand=0.5,
        chaincode_message=(
            "chaincode response 500, IDEMPOTENCY_CONFLICT: request r1 of tenant t was already used for X"
        ),
    )
    assert (conflict.kind, conflict.error_code, conflict.dead_letter) == (Kind.FAILED, "IDEMPOTENCY_CONFLICT", False)
    for v in (Verdict.INFRA, Verdict.REQUEST):
        retry = after_failure(v, charged=3, policy=p, rand=0.5)
        assert retry.kind is Kind.RETRY and retry.delay == 0.5 * 0.8
        last = after_failure(v, charged=5, policy=p, rand=0.5)
        assert (last.kind, last.error_code, last.dead_letter) == (Kind.FAILED, ErrorCode.RETRIES_EXHAUSTED, True)
    # Conflicts are counted apart, with a larger allowance (issue 21: a burst on a hot key).
    assert after_failure(Verdict.CONFLICT, charged=0, policy=p, rand=0.5, conflicts=29).kind is Kind.RETRY
    last = after_failure(Verdict.CONFLICT, charged=0, policy=p, rand=0.5, conflicts=30)
    assert (last.kind, last.error_code, last.dead_letter) == (Kind.FAILED, ErrorCode.RETRIES_EXHAUSTED, True)
    invalid = after_failure(
        Verdict.INVALID, charged=1, policy=p, rand=0.1, invalid_commit_code="ENDORSEMENT_POLICY_FAILURE"
    )
    assert (invalid.kind, invalid.error_code, invalid.dead_letter) == (Kind.FAILED, "ENDORSEMENT_POLICY_FAILURE", True)


def test_backoff_grows_and_is_capped() -> None:
    p = RetryPolicy(base_delay=1, max_delay=8)
    assert [p.delay(a, 0.999) // 1 for a in range(1, 7)] == [0, 1, 3, 7, 7, 7]
    assert all(p.delay(a, 0.0) == 0 for a in range(1, 7))


def test_probes_back_off_from_about_a_second_to_the_cap_and_start_over_once_closed() -> None:
    """Issue 30: after an outage the first probe comes about a second after the breaker opened,
    each failed probe doubles the wait (jittered), up to ``max_probe_delay``; a close starts over."""
    b = CircuitBreaker(failure_threshold=1, first_probe_delay=1.0, max_probe_delay=60.0, rand=lambda: 0.5)
    b.record_failure(0.0)
    assert b.state is State.OPEN and b.seconds_until_probe(0.0) == 1.0  # jitter 0.8-1.2, here 1.0
    assert not b.allow(0.9) and b.allow(1.0)
    waits = []
    t = 1.0
    for _ in range(8):  # every probe fails
        b.record_failure(t)
        waits.append(b.seconds_until_probe(t))
        t += waits[-1]
        assert b.allow(t)
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    b.record_success(t)
    b.allow(t)
    b.record_success(t)
    assert b.state is State.CLOSED
    b.record_failure(t + 1)
    assert b.seconds_until_probe(t + 1) == 1.0  # a new outage starts from a second again


def test_probe_delays_are_jittered_within_a_fifth() -> None:
    lows = CircuitBreaker(failure_threshold=1, first_probe_delay=1.0, rand=lambda: 0.0)
    highs = CircuitBreaker(failure_threshold=1, first_probe_delay=1.0, rand=lambda: 1.0)
    lows.record_failure(0.0)
    highs.record_failure(0.0)
    assert (lows.seconds_until_probe(0.0), highs.seconds_until_probe(0.0)) == (0.8, 1.2)
    capped = CircuitBreaker(failure_threshold=1, first_probe_delay=50.0, max_probe_delay=60.0, rand=lambda: 1.0)
    capped.record_failure(0.0)
    assert capped.seconds_until_probe(0.0) == 60.0  # never above the cap


def test_a_channel_connected_again_makes_an_open_breaker_probe_at_once_and_start_its_delays_over() -> None:
    """Issue 30, recovery in seconds: a peer back after a long outage (the breaker's delay grown to
    its cap) is probed at once, not a minute later; a failed probe then waits the first delay."""
    b = CircuitBreaker(failure_threshold=1, first_probe_delay=1, max_probe_delay=60, rand=lambda: 0.5)
    b.record_failure(0)
    for t in (1, 3, 7, 15, 31, 63):  # each probe fails: 1, 2, 4, ... up to the cap
        assert b.allow(t)
        b.record_failure(t)
    assert b.seconds_until_probe(63) == 60
    b.probe_now()
    assert b.allow(64) and b.state is State.HALF_OPEN
    b.record_failure(64)  # not yet healthy: the first delay again, not the cap
    assert b.seconds_until_probe(64) == 1 and not b.allow(64.5) and b.allow(65)
    b.record_success(65)
    b.record_success(65)
    assert b.state is State.CLOSED
    b.probe_now()  # closed: nothing to do
    assert b.state is State.CLOSED
