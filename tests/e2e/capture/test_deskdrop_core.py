"""The whole Deskdrop interactions file replayed through the capture core path (in-memory store).

The trigger wiring replays a subset (test_trigger_wiring.py); this covers all 72,312 rows in seconds.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture.service import CaptureService, Outcome
from tests.conftest import DESKDROP
from tests.e2e.capture import deskdrop

pytestmark = pytest.mark.e2e


@pytest.fixture
def quiet_capture_logs() -> Iterator[None]:
    """72k info lines would dominate the run time."""
    logger = logging.getLogger("storyrec")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("quiet_capture_logs")
def test_whole_file_yields_one_interaction_per_valid_click(deskdrop_dir: Path) -> None:
    articles, interactions = deskdrop.load(deskdrop_dir)
    store, metrics = InMemoryDocumentStore(), RecordingMetrics()
    service = CaptureService(store, lambda: datetime(2026, 11, 29, tzinfo=UTC), metrics)
    for story_id, doc in deskdrop.story_docs(articles):
        store.set(f"stories/{story_id}", doc)  # what the app writes; the trigger then runs
        assert service.capture_story(story_id, doc, version=datetime(2026, 11, 28, tzinfo=UTC)) is Outcome.CAPTURED
    clicks = list(deskdrop.click_docs(interactions))

    first = Counter(service.capture_click(click_id, doc) for click_id, doc in clicks)
    records = {p: d for p, d in store.docs.items() if p.startswith("ml_interactions/")}
    expected = deskdrop.expected_valid(interactions, articles)
    assert first[Outcome.CAPTURED] == len(records) == expected
    assert first[Outcome.QUARANTINED] == len(clicks) - expected
    reasons = Counter(d["reason"] for p, d in store.docs.items() if p.startswith("ml_quarantine/clicks-"))
    assert set(reasons) == {"unknown_type", "unknown_story"}
    assert reasons["unknown_type"] == int((interactions["eventType"] == "FOLLOW").sum())

    second = Counter(service.capture_click(click_id, doc) for click_id, doc in clicks)
    assert second == {Outcome.DUPLICATE: expected, Outcome.QUARANTINED: len(clicks) - expected}
    assert len([p for p in store.docs if p.startswith("ml_interactions/")]) == expected
    assert metrics.total("ClickCaptured") == expected
    assert metrics.total("ClickQuarantined") == len(clicks) - expected
    sample = records["ml_interactions/dd-1"]
    row = interactions.iloc[1]
    assert sample["TIMESTAMP"] == int(row["timestamp"]) and sample["DEVICE"] == deskdrop.device(row["userAgent"])
    if deskdrop_dir == DESKDROP:  # the real file's second row is a desktop browser
        assert sample["DEVICE"] == "desktop"
