"""Windows on captured_at: end of the local day, start at the watermark, reruns re-read their range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.memory import InMemoryDocumentStore
from shared.export.window import EPOCH, ExportState, Window, WindowError, end_of_day

pytestmark = pytest.mark.unit
UTCZ = ZoneInfo("UTC")
SETTLE = timedelta(minutes=10)


def test_end_of_day_in_the_configured_zone() -> None:
    assert end_of_day(date(2026, 11, 28), ZoneInfo("Europe/Berlin")) == datetime(2026, 11, 28, 23, tzinfo=UTC)
    assert end_of_day(date(2026, 7, 1), ZoneInfo("America/New_York")) == datetime(2026, 7, 2, 4, tzinfo=UTC)


def test_end_of_day_across_a_dst_change_is_local_midnight() -> None:
    zone = ZoneInfo("America/New_York")  # 2026-03-08: clocks jump forward; the day has 23 hours
    assert end_of_day(date(2026, 3, 7), zone) == datetime(2026, 3, 8, 5, tzinfo=UTC)
    assert end_of_day(date(2026, 3, 8), zone) == datetime(2026, 3, 9, 4, tzinfo=UTC)


def test_first_export_starts_at_the_epoch() -> None:
    state = ExportState(InMemoryDocumentStore(), "ml_state")
    window = state.window(date(2026, 11, 28), UTCZ, datetime(2026, 11, 29, 2, tzinfo=UTC), SETTLE)
    assert window == Window(EPOCH, datetime(2026, 11, 29, tzinfo=UTC))


def test_next_export_starts_at_the_watermark_and_covers_missed_days() -> None:
    state = ExportState(InMemoryDocumentStore(), "ml_state")
    first = state.window(date(2026, 11, 25), UTCZ, datetime(2026, 11, 29, 2, tzinfo=UTC), SETTLE)
    state.commit(date(2026, 11, 25), first, {"run_id": "r1"})
    window = state.window(date(2026, 11, 28), UTCZ, datetime(2026, 11, 29, 2, tzinfo=UTC), SETTLE)
    assert window.start == datetime(2026, 11, 26, tzinfo=UTC) and window.end == datetime(2026, 11, 29, tzinfo=UTC)


def test_rerun_reads_the_recorded_window_not_the_watermark() -> None:
    state = ExportState(InMemoryDocumentStore(), "ml_state")
    now = datetime(2026, 11, 29, 2, tzinfo=UTC)
    w27 = state.window(date(2026, 11, 27), UTCZ, now, SETTLE)
    state.commit(date(2026, 11, 27), w27, {})
    w28 = state.window(date(2026, 11, 28), UTCZ, now, SETTLE)
    state.commit(date(2026, 11, 28), w28, {})
    again = state.window(date(2026, 11, 27), UTCZ, now, SETTLE)
    assert (again.start, again.end, again.rerun) == (w27.start, w27.end, True)
    state.commit(date(2026, 11, 27), again, {})
    assert state.watermark() == w28.end  # never moves backwards


def test_a_day_that_is_not_over_is_refused() -> None:
    state = ExportState(InMemoryDocumentStore(), "ml_state")
    with pytest.raises(WindowError, match="not over"):
        state.window(date(2026, 11, 28), UTCZ, datetime(2026, 11, 29, 0, 5, tzinfo=UTC), SETTLE)


def test_a_day_already_covered_by_a_later_window_is_refused() -> None:
    state = ExportState(InMemoryDocumentStore(), "ml_state")
    now = datetime(2026, 11, 29, 2, tzinfo=UTC)
    state.commit(date(2026, 11, 28), state.window(date(2026, 11, 28), UTCZ, now, SETTLE), {})
    with pytest.raises(WindowError, match="already covered"):
        state.window(date(2026, 11, 26), UTCZ, now, SETTLE)


def test_corrupt_state_is_reported() -> None:
    docs = InMemoryDocumentStore()
    docs.set("ml_state/export", {"watermark": "yesterday"})
    with pytest.raises(WindowError, match="non-timestamp"):
        ExportState(docs, "ml_state").watermark()
