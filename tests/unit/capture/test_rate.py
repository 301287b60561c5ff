"""The per-user click rate capture enforces because the rules cannot count the writes of a batch.

A batch of 200 clicks from one user (all with the same ``createdAt``: the rules pin it to the commit's
``request.time``) gets at most ``CLICKS_PER_MINUTE`` interactions; the rest are quarantined as
``rate_limited``, once. A legitimate burst, another user and the next minute are untouched, and a
redelivered click keeps its outcome.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture.rate import CLICKS_PER_MINUTE, PROBES, probe_order
from shared.capture.service import CaptureService, Outcome
from tests.unit.capture.conftest import NOW, click

pytestmark = pytest.mark.unit


def _batch(service: CaptureService, prefix: str, count: int, **overrides: object) -> Counter[Outcome]:
    return Counter(service.capture_click(f"{prefix}{i}", click(**overrides)) for i in range(count))


def _quarantined(store: InMemoryDocumentStore, reason: str) -> int:
    return sum(1 for p, d in store.docs.items() if p.startswith("ml_quarantine/clicks-") and d["reason"] == reason)


def test_a_batch_of_200_clicks_keeps_at_most_the_limit_and_quarantines_the_rest(
    service: CaptureService, store: InMemoryDocumentStore, metrics: RecordingMetrics
) -> None:
    outcomes = _batch(service, "b200-", 200)
    assert 0 < outcomes[Outcome.CAPTURED] <= CLICKS_PER_MINUTE
    assert outcomes[Outcome.CAPTURED] >= CLICKS_PER_MINUTE - 2  # nearly every slot of the minute is used
    assert outcomes[Outcome.QUARANTINED] == 200 - outcomes[Outcome.CAPTURED]
    assert _quarantined(store, "rate_limited") == outcomes[Outcome.QUARANTINED]
    assert metrics.total("ClickQuarantined") == outcomes[Outcome.QUARANTINED]
    interactions = [p for p in store.docs if p.startswith("ml_interactions/")]
    assert len(interactions) == outcomes[Outcome.CAPTURED]


def test_a_legitimate_burst_of_10_clicks_is_captured_and_redelivered_as_duplicates(service: CaptureService) -> None:
    assert _batch(service, "b10-", 10) == {Outcome.CAPTURED: 10}
    assert _batch(service, "b10-", 10) == {Outcome.DUPLICATE: 10}


def test_redeliveries_after_the_minute_filled_keep_their_outcome(
    service: CaptureService, metrics: RecordingMetrics
) -> None:
    first = [service.capture_click(f"c{i}", click()) for i in range(100)]
    again = [service.capture_click(f"c{i}", click()) for i in range(100)]
    assert [o is Outcome.CAPTURED for o in first] == [o is Outcome.DUPLICATE for o in again]
    assert [o is Outcome.QUARANTINED for o in first] == [o is Outcome.QUARANTINED for o in again]
    assert metrics.total("ClickQuarantined") == first.count(Outcome.QUARANTINED)  # counted once


def test_other_users_and_the_next_minute_are_not_limited(service: CaptureService) -> None:
    _batch(service, "full-", 100)
    assert _batch(service, "bob-", 10, userId="bob") == {Outcome.CAPTURED: 10}
    later = NOW + timedelta(seconds=30)  # 12:00:30, the minute after the full one (11:59)
    assert _batch(service, "next-", 10, createdAt=later, clientTime=later) == {Outcome.CAPTURED: 10}


def test_a_click_captured_before_it_had_a_slot_stays_a_duplicate(
    service: CaptureService, store: InMemoryDocumentStore
) -> None:
    store.set("ml_interactions/old", {"USER_ID": "u1"})  # captured before the rate existed
    _batch(service, "full-", 100)
    assert service.capture_click("old", click()) is Outcome.DUPLICATE
    assert not any(d.get("doc_id") == "old" for p, d in store.docs.items() if p.startswith("ml_quarantine/"))


def test_probe_order_is_a_fixed_set_of_distinct_slots_per_click() -> None:
    order = probe_order("c1")
    assert order == probe_order("c1") and len(order) == len(set(order)) == PROBES
    assert all(0 <= slot < CLICKS_PER_MINUTE for slot in order)
    assert probe_order("c2") != order


def test_limit_and_probes_fit_a_news_reader() -> None:
    # Deskdrop's busiest user-minute has 26 events; a reader opens/reads/likes a few stories a minute.
    assert 26 < CLICKS_PER_MINUTE < 200
    # the 10th click of a legitimate burst fails only if all its probes hit the 9 slots taken before it
    assert (9 / CLICKS_PER_MINUTE) ** PROBES < 1e-6


def test_impressions_have_their_own_ceiling_and_keep_their_outcome_on_redelivery(
    service: CaptureService, store: InMemoryDocumentStore, metrics: RecordingMetrics
) -> None:
    from shared.capture.rate import IMPRESSIONS_PER_MINUTE
    from tests.corpus.capture_cases import impression

    doc = impression(createdAt=NOW - timedelta(seconds=1), clientTime=NOW - timedelta(seconds=2))
    first = [service.capture_impression(f"i{i}", doc) for i in range(150)]
    again = [service.capture_impression(f"i{i}", doc) for i in range(150)]
    captured = first.count(Outcome.CAPTURED)
    assert IMPRESSIONS_PER_MINUTE - 2 <= captured <= IMPRESSIONS_PER_MINUTE
    assert [o is Outcome.CAPTURED for o in first] == [o is Outcome.DUPLICATE for o in again]
    assert metrics.total("ImpressionQuarantined") == 150 - captured  # counted once
    assert len([p for p in store.docs if p.startswith("ml_impressions/")]) == captured
    assert _batch(service, "c-", 5) == {Outcome.CAPTURED: 5}  # clicks of the same minute have their own slots
