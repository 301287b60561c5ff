"""The one wait/retry helper: every poll and every retry in storyrec goes through this module.

Both take the clock and the sleep as arguments, so tests (and the simulated clock) drive them without
waiting. ``wait_until`` polls until a value is accepted or a deadline passes; ``retry_call`` repeats a
call that raised a retryable error (``exc.retryable``, see ``shared.errors``) with capped exponential
backoff, then re-raises the last error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from shared.errors import NotReady

T = TypeVar("T")

Sleep = Callable[[float], None]
Clock = Callable[[], float]


@dataclass(frozen=True)
class Backoff:
    """A delay schedule: ``initial``, then times ``factor``, never above ``cap``; ``jitter`` draws each
    delay uniformly from its upper half (so many clients retrying at once do not stay in step)."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    jitter: bool = False

    def delays(self, uniform: Callable[[float, float], float] = random.uniform) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay * uniform(0.5, 1.0) if self.jitter else delay
            delay = min(delay * self.factor, self.cap)


def is_retryable(exc: BaseException) -> bool:
    """The error table's verdict: storyrec errors carry ``retryable`` (``shared.errors``)."""
    return bool(getattr(exc, "retryable", False))


def wait_until(
    poll: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 1.0,
    max_interval: float = 30.0,
    what: str = "resource",
    sleep: Sleep = time.sleep,
    monotonic: Clock = time.monotonic,
) -> T:
    """Poll with a doubling interval (capped); return the first value ``done`` accepts; NotReady on timeout."""
    deadline = monotonic() + timeout
    for delay in Backoff(initial=interval, cap=max(interval, max_interval)).delays():
        value = poll()
        if done(value):
            return value
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise NotReady(f"{what} not settled after {timeout:.0f} s (last: {value!r})")
        sleep(min(delay, remaining))
    raise AssertionError("unreachable")  # pragma: no cover - delays() never ends


def retry_call(
    call: Callable[[], T],
    *,
    attempts: int,
    backoff: Backoff,
    retryable: Callable[[BaseException], bool] = is_retryable,
    sleep: Sleep = time.sleep,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Call up to ``attempts`` times while it raises a retryable error; re-raise the last (or first other) one."""
    delays = backoff.delays()
    for attempt in range(1, max(1, attempts) + 1):
        try:
            return call()
        except Exception as exc:
            if attempt >= attempts or not retryable(exc):
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            sleep(next(delays))
    raise AssertionError("unreachable")  # pragma: no cover
