"""The simulation's virtual clock, installed as the product's one clock (``shared.wiring.utc_now``).

Every use case reads time through ``shared.wiring.utc_now`` (directly, or as a ``clock`` default bound when
its module loaded). :func:`install` replaces that function in ``shared.wiring`` and rebinds every loaded
reference to it (module attributes and function defaults), so a module imported before the run reads the
virtual time as well; :func:`uninstall` puts the real clock back. Dev only: nothing that ships imports this.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FunctionType
from typing import Any

from infra.local.personalize import clock as engine_clock


class VirtualClock:
    """A settable UTC time that only moves forward (``advance``/``set``); thread-safe reads."""

    def __init__(self, start: datetime, on_set: Callable[[datetime], None] | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._pinned = threading.local()
        self._on_set = on_set  # told every move (the engine's clock file follows it: EngineClockFile)
        if on_set is not None:
            on_set(self._now)

    def __call__(self) -> datetime:
        pinned: datetime | None = getattr(self._pinned, "at", None)
        if pinned is not None:
            return pinned
        with self._lock:
            return self._now

    @contextlib.contextmanager
    def pinned(self, when: datetime) -> Iterator[datetime]:
        """In this thread only, read ``when`` (not after the shared time) for the block: work done later in
        wall time, e.g. a day's captures run on worker threads, sees the virtual time it belongs to."""
        when = when.astimezone(UTC)
        if when > self():
            raise ValueError(f"a pinned time is never ahead of the clock: {when} > {self()}")
        self._pinned.at = when
        try:
            yield when
        finally:
            self._pinned.at = None

    def set(self, when: datetime) -> datetime:
        """Move to ``when``; never backwards (a simulated day is lived in order)."""
        with self._lock:
            when = when.astimezone(UTC)
            if when < self._now:
                raise ValueError(f"the virtual clock does not go back: {when} < {self._now}")
            self._now = when
        if self._on_set is not None:
            self._on_set(when)
        return when

    def advance(self, delta: timedelta) -> datetime:
        return self.set(self() + delta)


class EngineClockFile:
    """Writes the virtual time into the local engine's clock file (infra/local/personalize/clock.py), so its
    scheduled work (Personalize's two-hourly automatic updates) follows the simulated day; at most one write
    per ``resolution`` of virtual time (the engine lags the clock by less than that)."""

    def __init__(self, engine_state: Path, resolution: timedelta = timedelta(minutes=1)) -> None:
        self.engine_state = engine_state
        self.resolution = resolution
        self._written: datetime | None = None

    def __call__(self, when: datetime) -> None:
        if self._written is not None and abs(when - self._written) < self.resolution:
            return
        self.engine_state.mkdir(parents=True, exist_ok=True)
        engine_clock.set_now(self.engine_state, when.timestamp())
        self._written = when


def _modules() -> Iterator[Any]:
    for name, module in list(sys.modules.items()):
        if module is not None and name.split(".")[0] in {"shared", "functions_aws", "functions_gcp", "infra"}:
            yield module


def _rebind(old: Callable[[], datetime], new: Callable[[], datetime]) -> int:
    """Point every loaded module attribute and function default that is ``old`` at ``new``; how many."""
    count = 0
    for module in _modules():
        for attr, value in list(vars(module).items()):
            if value is old:
                setattr(module, attr, new)
                count += 1
            elif isinstance(value, FunctionType) and value.__defaults__ and any(d is old for d in value.__defaults__):
                value.__defaults__ = tuple(new if d is old else d for d in value.__defaults__)
                count += 1
            elif isinstance(value, type):
                for member in vars(value).values():
                    fn = getattr(member, "__func__", member)
                    if isinstance(fn, FunctionType) and fn.__defaults__ and any(d is old for d in fn.__defaults__):
                        fn.__defaults__ = tuple(new if d is old else d for d in fn.__defaults__)
                        count += 1
    return count


_installed: list[tuple[Callable[[], datetime], Callable[[], datetime]]] = []


def install(clock: VirtualClock) -> None:
    """Make ``clock`` the product's clock in this process (undo with :func:`uninstall`)."""
    from shared import wiring

    real = wiring.utc_now

    def utc_now() -> datetime:
        return clock()

    utc_now.__doc__ = real.__doc__
    _rebind(real, utc_now)
    wiring.utc_now = utc_now  # type: ignore[assignment]
    _installed.append((real, utc_now))


def uninstall() -> None:
    """Put back the clock :func:`install` replaced."""
    from shared import wiring

    while _installed:
        real, fake = _installed.pop()
        _rebind(fake, real)
        wiring.utc_now = real  # type: ignore[assignment]
