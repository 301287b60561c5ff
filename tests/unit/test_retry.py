"""The one wait/retry helper, on a fake clock: every poll and retry in storyrec goes through it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidRequest, NotReady, ServiceUnavailable
from shared.retry import Backoff, retry_call, wait_until

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_until_returns_the_first_accepted_value_with_doubling_capped_sleeps() -> None:
    clock, values = FakeClock(), iter(range(100))
    got = wait_until(
        lambda: next(values),
        lambda v: v == 5,
        timeout=1000,
        interval=1,
        max_interval=4,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    assert got == 5
    assert clock.sleeps == [1, 2, 4, 4, 4]


def test_wait_until_times_out_with_not_ready_naming_what_and_the_last_value() -> None:
    clock = FakeClock()
    with pytest.raises(NotReady, match=r"imports not settled after 10 s \(last: 'PENDING'\)"):
        wait_until(
            lambda: "PENDING", lambda v: False, timeout=10, what="imports", sleep=clock.sleep, monotonic=clock.monotonic
        )
    assert clock.now == pytest.approx(10)  # never sleeps past the deadline


def test_retry_call_retries_only_retryable_errors() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ServiceUnavailable("down")
        return "ok"

    assert retry_call(flaky, attempts=5, backoff=Backoff(initial=0.5), sleep=clock.sleep) == "ok"
    assert clock.sleeps == [0.5, 1.0]

    def refused() -> str:
        calls.append(1)
        raise InvalidRequest("bad")

    calls.clear()
    with pytest.raises(InvalidRequest):
        retry_call(refused, attempts=5, backoff=Backoff(), sleep=clock.sleep)
    assert len(calls) == 1


@given(
    attempts=st.integers(min_value=-3, max_value=8),
    failures=st.integers(min_value=0, max_value=10),
    initial=st.floats(min_value=0.0, max_value=5.0),
    cap=st.floats(min_value=0.0, max_value=10.0),
    jitter=st.booleans(),
)
def test_retry_call_makes_at_most_attempts_calls_and_never_sleeps_past_the_cap(
    attempts: int, failures: int, initial: float, cap: float, jitter: bool
) -> None:
    clock = FakeClock()
    calls = 0

    def call() -> int:
        nonlocal calls
        calls += 1
        if calls <= failures:
            raise ServiceUnavailable("down")
        return calls

    allowed = max(1, attempts)
    try:
        got = retry_call(
            call, attempts=attempts, backoff=Backoff(initial=initial, cap=cap, jitter=jitter), sleep=clock.sleep
        )
    except ServiceUnavailable:
        assert failures >= allowed and calls == allowed
    else:
        assert got == failures + 1 <= allowed
    assert len(clock.sleeps) == calls - 1
    assert all(0 <= s <= max(initial, cap) for s in clock.sleeps)
