"""The simulation's virtual clock drives the local engine's clock file (automatic updates follow it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.local.personalize.clock import EngineClock
from infra.local.simulate.clock import EngineClockFile, VirtualClock

pytestmark = pytest.mark.unit


def test_the_engine_reads_the_virtual_time_within_a_minute(tmp_path: Path) -> None:
    start = datetime(2026, 10, 25, tzinfo=UTC)
    engine = EngineClock(tmp_path)
    clock = VirtualClock(start, on_set=EngineClockFile(tmp_path))
    assert engine.now() == start.timestamp()
    clock.advance(timedelta(seconds=30))  # under the resolution: not written
    assert engine.now() == start.timestamp()
    clock.set(start + timedelta(hours=7))
    assert engine.now() == (start + timedelta(hours=7)).timestamp()
