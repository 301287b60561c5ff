"""The fill reads the reader aggregates instead of querying ``ml_interactions`` per reader, with the same result."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture.readers import INDEXED
from shared.capture.service import CaptureService, Outcome
from shared.experiment.assign import experiment_for
from shared.ports import Query
from shared.recommend import fill_feeds
from shared.recommend.document import feed_story_ids
from tests.corpus.capture_cases import click
from tests.corpus.reader_cases import READER_CASES, ReaderCase
from tests.unit.recommend.fakes import NOW, make_deps, recommender, story, without_campaign

pytestmark = pytest.mark.unit

STORIES = [f"s{i}" for i in range(9)]
TYPES = ["open", "read", "comment", "like", "save"]


class CountingStore(InMemoryDocumentStore):
    """Counts the per-reader queries on ``ml_interactions`` (a filter on USER_ID)."""

    def __init__(self) -> None:
        super().__init__()
        self.reader_queries = 0

    def query(self, query: Query) -> Any:
        if query.collection == "ml_interactions" and any(w.field == "USER_ID" for w in query.where):
            self.reader_queries += 1
        return super().query(query)


def _world() -> CountingStore:
    docs = CountingStore()
    for sid in STORIES:
        story(docs, sid)
    return docs


def _capture(docs: InMemoryDocumentStore, n: int, uid: str, sid: str, event: str = "read", days_ago: float = 1) -> None:
    at = NOW - timedelta(days=days_ago, minutes=n)
    outcome = CaptureService(docs, lambda: NOW, RecordingMetrics()).capture_click(
        f"c{n:04d}", click(userId=uid, storyId=sid, type=event, createdAt=at, clientTime=at)
    )
    assert outcome is Outcome.CAPTURED


def _profile(docs: InMemoryDocumentStore, uid: str) -> None:
    """A reader active by a profile change only (no interaction in the window)."""
    docs.set(f"ml_users/{uid}", {"USER_ID": uid, "active": True, "updated_at": NOW - timedelta(days=1)})


def _old_path(docs: CountingStore) -> CountingStore:
    """The same interactions as an existing deployment has them: no aggregate, no marker, no capture flag."""
    old = CountingStore()
    for path, data in docs.docs.items():
        if path.startswith(("ml_readers/", "ml_state/")):
            continue
        old.set(path, {k: v for k, v in data.items() if k != INDEXED})
    return old


def _feeds(docs: InMemoryDocumentStore) -> dict[str, Any]:
    return {p: d for p, d in docs.docs.items() if p.startswith("feeds/")}


def test_a_fresh_deployments_first_fill_trusts_the_aggregates_and_queries_no_reader() -> None:
    docs = _world()
    _capture(docs, 1, "alice", "s1")
    _capture(docs, 2, "bob", "s2", days_ago=60)  # outside the window: warm only through the aggregate
    _profile(docs, "bob")
    _profile(docs, "carol")  # never read anything: cold
    summary = fill_feeds(make_deps(recommender(STORIES), docs))
    assert docs.reader_queries == 0 and summary.history_queries == 0
    assert docs.get("ml_state/readers")["how"] == "captured"  # type: ignore[index]
    kinds = {uid: docs.get(f"feeds/{uid}")["kind"] for uid in ("alice", "bob", "carol")}  # type: ignore[index]
    assert kinds == {"alice": "personalized", "bob": "personalized", "carol": "popular"}


def test_without_the_marker_an_existing_deployment_keeps_the_old_queries() -> None:
    docs = _world()
    _capture(docs, 1, "alice", "s1")
    _capture(docs, 2, "bob", "s2", days_ago=60)
    _profile(docs, "bob")
    _profile(docs, "carol")
    old = _old_path(docs)
    summary = fill_feeds(make_deps(recommender(STORIES), old))
    assert old.get("ml_state/readers") is None  # an interaction without its aggregate: never trusted
    assert old.reader_queries == 2 and summary.history_queries == 2  # bob and carol: has_history
    fill_feeds(make_deps(recommender(STORIES), docs))
    assert _feeds(old) == _feeds(docs)


def test_an_interaction_captured_before_the_aggregates_keeps_the_marker_away() -> None:
    docs = _world()
    docs.set(
        "ml_interactions/old",
        {
            "USER_ID": "dan",
            "ITEM_ID": "s3",
            "TIMESTAMP": 0,
            "EVENT_TYPE": "read",
            "captured_at": NOW - timedelta(days=400),
        },
    )
    _capture(docs, 1, "alice", "s1")
    fill_feeds(make_deps(recommender(STORIES), docs))
    assert docs.get("ml_state/readers") is None


def test_an_overflowed_reader_alone_is_queried() -> None:
    docs = _world()
    _capture(docs, 1, "alice", "s1", days_ago=60)
    _capture(docs, 2, "bob", "s2", days_ago=60)
    for uid in ("alice", "bob"):
        _profile(docs, uid)
    docs.set("ml_readers/bob", {"USER_ID": "bob", "incomplete": "overflow"})
    summary = fill_feeds(make_deps(recommender(STORIES), docs))
    assert docs.reader_queries == 1 and summary.history_queries == 1
    assert docs.get("feeds/bob")["kind"] == "personalized"  # type: ignore[index]


def test_event_types_that_do_not_count_as_seen_make_a_reader_warm_but_exclude_nothing() -> None:
    docs = _world()
    _capture(docs, 1, "alice", "s0", "like", days_ago=60)  # outside the window
    _capture(docs, 2, "alice", "s1", "read", days_ago=61)
    _capture(docs, 3, "bob", "s0", "read", days_ago=2)  # makes s0 popular
    _profile(docs, "alice")
    deps = make_deps(without_campaign(STORIES), docs, seen_event_types=("read",))
    summary = fill_feeds(deps)
    assert docs.reader_queries == 0 and summary.history_queries == 0
    alice = feed_story_ids(docs.get("feeds/alice") or {})
    assert "s0" in alice and "s1" not in alice  # liked is not seen; read is, even outside the window
    assert _feeds(docs) == (
        fill_feeds(make_deps(without_campaign(STORIES), old := _old_path(docs), seen_event_types=("read",)))
        and _feeds(old)
    )


def test_an_erased_reader_is_queried_like_before() -> None:
    docs = _world()
    _capture(docs, 1, "alice", "s1", days_ago=60)
    CaptureService(docs, lambda: NOW, RecordingMetrics()).capture_user("alice", None, version=NOW - timedelta(days=3))
    docs.set("ml_users/alice", {"USER_ID": "alice", "active": True, "updated_at": NOW - timedelta(days=1)})  # back
    summary = fill_feeds(make_deps(without_campaign(STORIES), docs))
    assert summary.history_queries >= 1
    assert "s1" not in feed_story_ids(docs.get("feeds/alice") or {})


READER = st.tuples(
    st.booleans(),  # active by a profile change in the window
    st.lists(
        st.tuples(st.sampled_from(STORIES), st.sampled_from(TYPES), st.sampled_from([0.5, 3, 20, 45, 200])),
        max_size=6,
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(["u0", "u1", "u2", "u3", "u4", "u5"]), READER, min_size=1, max_size=6),
    st.sampled_from([("*",), ("read",), ("read", "like")]),
    st.booleans(),
    st.sampled_from([0.0, 0.5, 1.0]),
)
def test_the_aggregates_give_the_same_warm_cold_split_and_exclusions_as_the_queries(
    readers: dict[str, tuple[bool, list[tuple[str, str, float]]]],
    seen_types: tuple[str, ...],
    campaign: bool,
    control_share: float,
) -> None:
    docs = _world()
    n = 0
    for uid, (profile, reads) in sorted(readers.items()):
        if profile:
            _profile(docs, uid)
        for sid, event, days_ago in reads:
            n += 1
            _capture(docs, n, uid, sid, event, days_ago)
    old = _old_path(docs)

    def fill(store: CountingStore) -> Any:
        port = recommender(STORIES) if campaign else without_campaign(STORIES)
        deps = make_deps(port, store, seen_event_types=seen_types)
        deps = replace(deps, experiment=lambda champion: experiment_for(champion, None, control_share, 0.0))
        return fill_feeds(deps)

    fast, slow = fill(docs), fill(old)
    assert docs.reader_queries == 0 and fast.history_queries == 0
    assert _feeds(docs) == _feeds(old)
    assert (fast.personalized, fast.popular, fast.arms) == (slow.personalized, slow.popular, slow.arms)


@pytest.mark.parametrize("case", READER_CASES, ids=[c.name for c in READER_CASES])
def test_a_damaged_or_incomplete_aggregate_is_answered_by_the_query(case: ReaderCase) -> None:
    docs = _world()
    _capture(docs, 1, "r", "s1", days_ago=60)
    _capture(docs, 2, "other", "s1", days_ago=1)
    _profile(docs, "r")
    docs.set("ml_readers/r", case.doc)
    summary = fill_feeds(make_deps(without_campaign(STORIES), docs))
    assert summary.history_queries == docs.reader_queries  # warm or cold, then the whole history: 0 or 2
    assert (docs.reader_queries > 0) == (case.expect == "queried")
    assert docs.get("feeds/r") is not None
    if case.expect == "queried":  # exactly the old path's feed
        old = _old_path(docs)
        fill_feeds(make_deps(without_campaign(STORIES), old))
        assert old.get("feeds/r") == docs.get("feeds/r")
