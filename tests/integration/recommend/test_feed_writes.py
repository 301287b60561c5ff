"""Version-guarded feed writes on the Firestore emulator: a write that loses a race is decided again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import shared.adapters.firestore as adapter
from shared.ports import NewerWrite

pytestmark = pytest.mark.integration
OLD, MID, NEW = (datetime(2026, 11, 29, h, tzinfo=UTC) for h in (3, 4, 5))


@pytest.mark.parametrize(("sneaked", "ours", "expected"), [(NEW, MID, "kept"), (OLD, MID, "written")])
def test_a_write_that_lost_the_race_is_decided_again_on_what_won(
    doc_store: Any, monkeypatch: pytest.MonkeyPatch, sneaked: datetime, ours: datetime, expected: str
) -> None:
    """Another writer commits between our read and our write: the precondition fails, the document is
    read again, and ours is written only if it is still the newer one."""
    doc_store.set("feeds/a", {"generatedAt": OLD, "by": "first"})
    doc_store.set("feeds/b", {"generatedAt": OLD, "by": "first"})
    real = adapter._RawCalls.guarded_write
    sneaks: list[str] = []

    def sneaky(raw: Any, batch: Any, name: str, write: NewerWrite, update_time: Any) -> None:
        if write.path == "feeds/a" and not sneaks:
            sneaks.append(write.path)
            doc_store.set("feeds/a", {"generatedAt": sneaked, "by": "other"})
        real(raw, batch, name, write, update_time)

    monkeypatch.setattr(adapter._RawCalls, "guarded_write", sneaky)
    writes = [NewerWrite(f"feeds/{k}", {"generatedAt": ours, "by": "us"}, ours) for k in ("a", "b")]
    assert doc_store.write_newer(writes, version_field="generatedAt") == [expected, "written"]
    assert sneaks == ["feeds/a"]
    winner = max(sneaked, ours)
    assert doc_store.get("feeds/a") == {"generatedAt": winner, "by": "other" if winner == sneaked else "us"}
    assert doc_store.get("feeds/b") == {"generatedAt": ours, "by": "us"}  # the other write was not sunk
