"""The one poller: call ``poll`` until ``done`` says so, or give up after ``timeout`` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from shared.personalize.model import NotReady

T = TypeVar("T")


def wait_until(
    poll: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 1.0,
    max_interval: float = 30.0,
    what: str = "resource",
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """Poll with a doubling interval (capped); return the first value ``done`` accepts; NotReady on timeout."""
    deadline = monotonic() + timeout
    delay = interval
    while True:
        value = poll()
        if done(value):
            return value
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise NotReady(f"{what} not settled after {timeout:.0f} s (last: {value!r})")
        sleep(min(delay, remaining))
        delay = min(delay * 2, max_interval)
