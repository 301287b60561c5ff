"""Call discipline for GetRecommendations: a rate limit, retries with backoff, and a circuit breaker.

Whether a failure is worth retrying is the error's own ``retryable`` (the adapter's translation table).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shared.config import RecommendSettings
from shared.errors import ServiceUnavailable, StoryrecError
from shared.personalize.model import PersonalizeError, Recommendations
from shared.retry import Backoff, Clock, Sleep, retry_call


class CircuitOpen(ServiceUnavailable):
    """Not called: the breaker opened after too many consecutive failures."""


def error_code(exc: StoryrecError) -> str:
    """The code a run counts a failure under: Personalize's error code, else the error's class name."""
    return exc.code if isinstance(exc, PersonalizeError) else type(exc).__name__


class RateLimiter:
    """At most ``per_second`` acquisitions per second across threads (evenly spaced)."""

    def __init__(self, per_second: float, sleep: Sleep = time.sleep, monotonic: Clock = time.monotonic) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep
        self._monotonic = monotonic

    def acquire(self) -> None:
        with self._lock:
            now = self._monotonic()
            at = max(now, self._next)
            self._next = at + self._interval
        if at > now:
            self._sleep(at - now)


class Breaker:
    """Opens after ``threshold`` consecutive failures, so an outage costs seconds, not hours."""

    def __init__(self, threshold: int) -> None:
        self._threshold = threshold
        self._failures = 0
        self._lock = threading.Lock()
        self.reason: str | None = None

    @property
    def open(self) -> bool:
        return self._failures >= self._threshold

    def record(self, error: StoryrecError | None) -> None:
        with self._lock:
            if error is None:
                self._failures = 0 if not self.open else self._failures
            else:
                self._failures += 1
                self.reason = str(error)

    def refusal(self) -> CircuitOpen:
        """The error a call the open breaker did not make fails with."""
        return CircuitOpen(f"not called: {self.reason}")


def with_retries(call: Callable[[], Recommendations], config: RecommendSettings, sleep: Sleep) -> Recommendations:
    """Retry a retryable failure with exponential backoff and jitter; re-raise the last one."""
    backoff = Backoff(initial=config.backoff_seconds, factor=2.0, cap=float("inf"), jitter=True)
    return retry_call(call, attempts=config.retries + 1, backoff=backoff, sleep=sleep)
