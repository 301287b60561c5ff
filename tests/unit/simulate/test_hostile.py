"""Hostile impressions from the capture corpus: each keeps what makes it hostile once written by the run's
client, is written by the readers' path, and the invariants catch one that is captured or exported."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from infra.local.readers import MODELS
from infra.local.simulate import hostile
from infra.local.simulate import invariants as inv
from infra.local.simulate.clock import VirtualClock
from infra.local.simulate.online_checks import HOSTILE, hostile_exported
from infra.local.simulate.readers import ReaderModel
from infra.local.simulate.world import FeedView, SentHostileImpression, SentImpression, World, WorldParams
from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture.quarantine import quarantine_id
from shared.capture.service import CaptureService
from shared.config import Settings
from tests.corpus.capture_cases import IMPRESSION_CASES
from tests.unit.capture import events

pytestmark = pytest.mark.unit
T0 = datetime(2026, 2, 3, 9, 30, tzinfo=UTC)
FEED = {"recommendationId": "rid-9"}  # a personalized feed: its recommendation id, no source


def firestore_holds(doc_id: str, data: Any) -> bool:
    """Whether the Admin SDK could write it (a map Firestore can hold, under a document id)."""
    return events.expressible(data) and "/" not in doc_id and len(doc_id.encode()) <= 1500


def test_every_corpus_case_the_capture_must_quarantine_is_used_and_only_those() -> None:
    cases = hostile.corpus_cases()
    assert [c.name for c in cases] == [c.name for c in IMPRESSION_CASES if c.expect.startswith("quarantined:")]
    assert len(cases) >= 30 and all(c.source == "impressions" for c in cases)


@pytest.mark.parametrize("case", hostile.corpus_cases(), ids=lambda c: c.name)
def test_each_case_written_by_the_runs_client_is_still_quarantined_for_the_corpus_reason(case: Any) -> None:
    """Adapted to a reader, the run's time and a feed's attribution, each case is quarantined with the reason the
    corpus gives it by the real capture use case, or is a document Firestore cannot hold (refused there)."""
    store = InMemoryDocumentStore()
    service = CaptureService(store, lambda: T0, RecordingMetrics())
    made = hostile.adapt(case, 12, "r00007", "r00008", FEED, T0)
    assert made.case == case.name and made.doc_id.startswith("h0000012")
    if not firestore_holds(made.doc_id, made.data):
        assert case.doc_id == "a/b" or not events.expressible(case.data), case.name  # refused as the corpus's
        return
    outcome = service.capture_impression(made.doc_id, made.data, writer=made.writer)
    assert outcome.value == "quarantined", case.name
    record = store.get(f"ml_quarantine/{quarantine_id('impressions', made.doc_id)}")
    assert record is not None and record["reason"] == made.reason == case.expect.partition(":")[2], record
    assert not [p for p in store.docs if p.startswith("ml_impressions/")]


def test_an_adapted_case_is_the_readers_impression_but_for_the_corpus_change() -> None:
    cases = {c.name: c for c in hostile.corpus_cases()}
    forged = hostile.adapt(cases["forged userId"], 0, "r1", "r2", FEED, T0)
    assert forged.data == {"userId": "r2", "storyIds": ["s1", "s2", "s3"], **FEED, "clientTime": T0, "createdAt": T0}
    assert (forged.writer.auth_type, forged.writer.auth_id) == ("unknown", "r1") and forged.doc_id == "h0000000"
    future = hostile.adapt(cases["createdAt in the future"], 1, "r1", "r2", {"source": "latest"}, T0)
    assert future.data["createdAt"] == T0 + timedelta(hours=1) and future.data["source"] == "latest"
    assert "recommendationId" not in future.data  # the latest list has none
    missing = hostile.adapt(cases["createdAt missing"], 2, "r1", "r2", FEED, T0)
    assert "createdAt" not in missing.data and missing.writer.auth_id == "r1"
    piped = hostile.adapt(cases["impression id with a pipe"], 3, "r1", "r2", FEED, T0)
    assert piped.doc_id == "h0000003-i|1"
    long = hostile.adapt(cases["impression id 1500 characters"], 4, "r1", "r2", FEED, T0)
    assert len(long.doc_id) == 1500 and long.doc_id.startswith("h0000004x")
    assert hostile.story_cell(forged.data) == "s1|s2|s3" and hostile.story_cell(["s1"]) is None


class Docs:
    """The Admin SDK's ``document(path).set(data)``: refuses what Firestore refuses (a path, a list)."""

    def __init__(self) -> None:
        self.written: dict[str, Any] = {}

    def document(self, path: str) -> Any:
        if path.count("/") != 1:
            raise ValueError("A document must have an even number of path elements")
        docs = self

        class Ref:
            def set(self, data: Any) -> None:
                if not isinstance(data, dict):
                    raise TypeError("a document is a map")
                docs.written[path] = data

        return Ref()


def _world(clock: VirtualClock, capture: Any) -> World:
    model = ReaderModel(MODELS["stable"], np.random.default_rng(1))
    world = World(
        Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p"}),
        model,
        WorldParams(),
        np.random.default_rng(0),
        Docs(),
        capture,
        clock,  # type: ignore[arg-type]
    )
    for uid in ("r00001", "r00002", "r00003"):
        world.readers[uid] = model.new_reader(uid)
    return world


def test_the_run_writes_each_case_in_turn_through_capture_at_its_own_time_and_records_the_outcome() -> None:
    """Deferred like the readers' impressions, sent under the clock pinned at the time of writing (not at the
    document's ``createdAt``, which a case may set to the future, drop or make a string)."""
    clock = VirtualClock(T0)
    store = InMemoryDocumentStore()
    world = _world(clock, CaptureService(store, clock, RecordingMetrics()))
    world.deferred = []
    cases = hostile.corpus_cases()
    feeds = {"r00002": {"recommendationId": "rid-2", "attributionSource": "storyrec-control"}}
    for minute in range(len(cases) + 2):
        clock.set(T0 + timedelta(minutes=minute))
        sent = world.write_hostile_impression(feeds)
        assert sent is not None and sent.outcome == "" and sent.uid == "r00002"  # the reader with a feed
    # with the feed's attribution (a leak would count in an exposure file), but a payload that is no map
    assert {i.case for i in world.hostile_impressions if not i.from_feed} == {"payload a list"}
    clock.set(T0 + timedelta(hours=10))
    world.send_deferred(clock.pinned, workers=2)
    sent_cases = [i.case for i in world.hostile_impressions]
    assert sent_cases == [c.name for c in cases] + [c.name for c in cases[:2]]  # in turn, then again
    outcomes = {i.case: i.outcome for i in world.hostile_impressions}
    assert set(outcomes.values()) == {"quarantined", "refused"}, outcomes
    assert {c for c, o in outcomes.items() if o == "refused"} == {"payload a list", "impression id a path"}
    assert not [p for p in store.docs if p.startswith("ml_impressions/")]
    quarantined = {
        i.impression_id: store.get(f"ml_quarantine/{quarantine_id('impressions', i.impression_id)}") or {}
        for i in world.hostile_impressions
        if i.outcome == "quarantined"
    }
    check = inv.hostile_impressions_check(world, quarantined, set())
    assert check.status == "ok" and f"{len(cases) + 2} hostile impressions" in check.detail, check
    assert world.impressions == [] and world.clicks == []  # the readers' truth is untouched


def _sent(outcome: str, reason: str = "too_many", case: str = "26 stories") -> SentHostileImpression:
    return SentHostileImpression("h0000001", "r1", case, reason, T0, "s1|s2", True, outcome)


def test_the_capture_invariant_flags_a_hostile_impression_captured_or_quarantined_for_another_reason() -> None:
    world = _world(VirtualClock(T0), None)
    world.hostile_impressions = [_sent("quarantined")]
    assert inv.hostile_impressions_check(world, {"h0000001": {"reason": "too_many"}}, set()).status == "ok"
    assert inv.hostile_impressions_check(world, {"h0000001": {"reason": "wrong_type"}}, set()).status == "violated"
    assert inv.hostile_impressions_check(world, {}, set()).status == "violated"  # no quarantine record
    assert inv.hostile_impressions_check(world, {"h0000001": {"reason": "too_many"}}, {"h0000001"}).status == (
        "violated"
    )
    world.hostile_impressions = [_sent("captured")]
    assert inv.hostile_impressions_check(world, {}, set()).status == "violated"
    world.hostile_impressions = [_sent("refused")]
    assert inv.hostile_impressions_check(world, {}, set()).status == "ok"


def _row(uid: str, cell: str) -> dict[str, str]:
    return {"USER_ID": uid, "ITEM_ID": "s000001", "TIMESTAMP": "1", "EVENT_TYPE": "open", "IMPRESSION": cell}


def _file(rows: list[tuple[str, int, int]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["user_id", "arm", "impressions", "clicks"])
    writer.writerows([(uid, "champion", n, c) for uid, n, c in rows])
    return out.getvalue().encode()


def test_the_export_invariant_flags_a_hostile_impression_in_an_impression_cell_or_an_exposure_file() -> None:
    world = _world(VirtualClock(T0), None)
    feed = FeedView("feed", "rid-1", None, "champion", "exp-1", "personalized")
    world.impressions = [SentImpression("i1", "r1", ("s000001", "s000002"), feed, T0, "captured")]
    world.hostile_impressions = [_sent("quarantined")]
    key = ("r1", "s000001", 1, "open")
    day = T0.date().isoformat()
    honest = {day: [("exp-1", _file([("r1", 2, 0)]))]}
    assert hostile_exported(world, {key: [_row("r1", "s000001|s000002")]}, honest).status == "ok"
    leaked = hostile_exported(world, {key: [_row("r1", "s1|s2")]}, honest)
    assert leaked.status == "violated" and leaked.name == HOSTILE
    assert "a hostile impression's stories" in str(leaked.examples)
    other = hostile_exported(world, {key: [_row("r2", "s000001|s000002")]}, honest)  # another reader's impression
    assert other.status == "violated" and "no impression of the reader" in str(other.examples)
    counted = hostile_exported(world, {key: [_row("r1", "")]}, {day: [("exp-1", _file([("r1", 4, 0)]))]})
    assert counted.status == "violated" and "exposure" in str(counted.examples)
