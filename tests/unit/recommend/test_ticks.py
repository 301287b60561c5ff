"""One feed fill per scheduled tick: a second delivery of the same tick is a no-op (claim by run id)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.adapters.memory import InMemoryDocumentStore
from shared.recommend import fill_feeds
from shared.recommend.deps import FeedDeps, FillSummary
from shared.recommend.ticks import DEAD_AFTER, claim_path, fill_once
from tests.unit.recommend.fakes import NOW, click, make_deps, recommender, story

pytestmark = pytest.mark.unit
ITEMS = [f"s{i}" for i in range(8)]


@pytest.fixture
def deps() -> FeedDeps:
    docs = InMemoryDocumentStore()
    for sid in ITEMS:
        story(docs, sid)
    click(docs, "alice", "s0")
    return make_deps(recommender(ITEMS), docs)


def counting(calls: list[str]) -> Any:
    def fill(d: FeedDeps, run_id: str) -> FillSummary:
        calls.append(run_id)
        return fill_feeds(d, run_id=run_id)

    return fill


def test_a_second_delivery_of_the_same_tick_fills_nothing(deps: FeedDeps) -> None:
    calls: list[str] = []
    first = fill_once(deps, "20261129T050000", counting(calls))
    assert first is not None and first.personalized == 1
    written = deps.docs.get("feeds/alice")
    assert fill_once(deps, "20261129T050000", counting(calls)) is None
    assert calls == ["20261129T050000"]
    assert deps.docs.get("feeds/alice") == written
    assert (deps.docs.get(claim_path(deps, "20261129T050000")) or {})["status"] == "done"
    # the next day's tick is another run
    assert fill_once(deps, "20261130T050000", counting(calls)) is not None
    assert calls == ["20261129T050000", "20261130T050000"]


def test_a_delivery_while_the_tick_runs_is_refused(deps: FeedDeps) -> None:
    calls: list[str] = []

    def reentrant(d: FeedDeps, run_id: str) -> FillSummary:
        assert fill_once(d, run_id, counting(calls)) is None  # the platform delivers again mid-run
        return FillSummary(run_id)

    assert fill_once(deps, "t1", reentrant) is not None and calls == []


def test_a_failed_fill_releases_the_tick_for_the_schedulers_retry(deps: FeedDeps) -> None:
    def broken(d: FeedDeps, run_id: str) -> FillSummary:
        raise RuntimeError("Personalize is down")

    with pytest.raises(RuntimeError):
        fill_once(deps, "t1", broken)
    assert deps.docs.get(claim_path(deps, "t1")) is None
    calls: list[str] = []
    assert fill_once(deps, "t1", counting(calls)) is not None and calls == ["t1"]


def test_a_run_that_died_is_taken_over_once(deps: FeedDeps) -> None:
    deps.docs.set(claim_path(deps, "t1"), {"runId": "t1", "status": "running", "claimedAt": NOW - DEAD_AFTER})
    calls: list[str] = []
    assert fill_once(deps, "t1", counting(calls)) is not None and calls == ["t1"]
    # a recent running claim is not taken over
    deps.docs.set(claim_path(deps, "t2"), {"runId": "t2", "status": "running", "claimedAt": NOW - timedelta(minutes=5)})
    assert fill_once(deps, "t2", counting(calls)) is None and calls == ["t1"]


def test_only_one_of_two_late_deliveries_takes_over(deps: FeedDeps) -> None:
    stamp = NOW - DEAD_AFTER - timedelta(minutes=1)
    deps.docs.set(claim_path(deps, "t1"), {"runId": "t1", "status": "running", "claimedAt": stamp})
    deps.docs.create(f"{claim_path(deps, 't1')}_takeover_{int(stamp.timestamp())}", {"runId": "t1"})  # the other won
    assert fill_once(deps, "t1", counting([])) is None


def test_an_unreadable_claim_is_never_taken_over(deps: FeedDeps) -> None:
    deps.docs.set(claim_path(deps, "t1"), {"status": "running", "claimedAt": "yesterday"})
    assert fill_once(deps, "t1", counting([])) is None
