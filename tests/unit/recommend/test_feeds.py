"""Feed fill over in-memory fakes: what goes in a feed, what never does, and what happens on failure."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore
from shared.errors import ServiceUnavailable
from shared.personalize.model import PersonalizeError, Status, Unavailable
from shared.ports import Query
from shared.recommend import fill_feeds, first_feed, refresh_user
from shared.recommend.campaign import filter_expression, filter_name
from shared.recommend.catalogue import Story
from shared.recommend.document import feed_document, feed_items, feed_story_ids
from tests.unit.recommend.fakes import CAMPAIGN, NOW, click, make_deps, recommender, story, without_campaign

pytestmark = pytest.mark.unit
ITEMS = [f"s{i}" for i in range(12)]


@pytest.fixture
def docs() -> InMemoryDocumentStore:
    docs = InMemoryDocumentStore()
    for sid in ITEMS:
        story(docs, sid)
    click(docs, "alice", "s0")
    click(docs, "alice", "s1", event="like")
    click(docs, "bob", "s0")
    click(docs, "bob", "s2")
    click(docs, "old-user", "s3", days_ago=90)  # outside the active window
    return docs


def at(deps: Any, hours: float) -> Any:
    """The same deps with the clock ``hours`` after NOW (a later run)."""
    deps.clock = lambda: NOW + timedelta(hours=hours)
    return deps


def feed(docs: InMemoryDocumentStore, uid: str) -> dict[str, Any]:
    """The stored feed, with its ``itemsJson`` decoded into ``items`` and ``storyIds`` (as the homepage would)."""
    found = docs.get(f"feeds/{uid}")
    assert found is not None, f"no feed for {uid}"
    return {**found, "items": feed_items(found), "storyIds": feed_story_ids(found)}


def test_every_active_user_gets_the_campaigns_order_minus_what_they_read(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    summary = fill_feeds(make_deps(rec, docs))
    assert summary.users == 2 and summary.personalized == 2
    alice = feed(docs, "alice")
    assert alice["storyIds"] == ["s2", "s3", "s4", "s5", "s6"]
    assert feed(docs, "bob")["storyIds"] == ["s1", "s3", "s4", "s5", "s6"]
    assert docs.get("feeds/old-user") is None
    first = alice["items"][0]
    assert first == {
        "storyId": "s2",
        "score": pytest.approx(0.98),
        "title": "Title s2",
        "url": "https://x/s2",
        "image": "https://i/s2",
        "source": "wire",
    }
    assert alice["recommendationId"] == "rid-alice"
    assert alice["solutionVersionArn"] == CAMPAIGN.solution_version_arn
    assert alice["generatedAt"] == NOW and alice["stale"] is False and alice["kind"] == "personalized"


def test_filter_is_created_once_with_the_age_cutoff_as_a_value(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    deps = make_deps(rec, docs)
    fill_feeds(deps)
    fill_feeds(deps)
    assert len(rec.filters) == 1
    ((name, expression),) = rec.filters.items()
    assert expression == filter_expression(deps.config)
    assert 'Interactions.EVENT_TYPE IN ("*")' in expression and "$MIN_CREATED" in expression
    assert name == filter_name("storyrec-exclude-seen", expression) and len(name) <= 63
    assert {values["MIN_CREATED"] for _, values in rec.calls} == {str(int(NOW.timestamp()) - 30 * 86400)}


def test_deleted_unpublished_and_old_stories_never_appear(docs: InMemoryDocumentStore) -> None:
    story(docs, "s3", active=False)
    story(docs, "s4", status="draft")
    story(docs, "s5", age_days=45)
    docs.delete("stories/s6")
    fill_feeds(make_deps(recommender(ITEMS), docs))
    assert feed(docs, "alice")["storyIds"] == ["s2", "s7", "s8", "s9"]


def test_a_user_without_history_gets_the_popular_feed(docs: InMemoryDocumentStore) -> None:
    docs.set("ml_users/carol", {"USER_ID": "carol", "active": True, "updated_at": NOW})
    docs.set("ml_users/gone", {"USER_ID": "gone", "active": False, "updated_at": NOW})
    rec = recommender(ITEMS)
    summary = fill_feeds(make_deps(rec, docs))
    carol = feed(docs, "carol")
    assert carol["kind"] == "popular" and carol["stale"] is False
    assert carol["storyIds"][:3] == ["s0", "s1", "s2"]  # most read in the window first
    assert len(carol["storyIds"]) == 5
    assert "carol" not in {u for u, _ in rec.calls}
    assert docs.get("feeds/gone") is None and summary.popular == 1


def test_the_popular_feed_ranks_by_recent_reads_not_the_whole_windows(docs: InMemoryDocumentStore) -> None:
    """News goes stale in days: five reads three weeks ago weigh less than two today (half-life 24 h), or the
    cold readers' feed (and the control arm's) leads with yesterday's news."""
    for k in range(5):
        click(docs, f"early{k}", "s7", days_ago=21)
    for k in range(2):
        click(docs, f"today{k}", "s9", days_ago=0.1)
    docs.set("ml_users/carol", {"USER_ID": "carol", "active": True, "updated_at": NOW})
    fill_feeds(make_deps(recommender(ITEMS), docs))
    ids = feed(docs, "carol")["storyIds"]
    assert ids[:2] == ["s9", "s0"]  # twice in the last hours, then twice a day ago
    assert "s7" not in ids[:4], ids  # five reads three weeks ago: behind every story read this week


def test_a_feed_whose_recommendations_are_all_gone_falls_back_to_popular(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    rec.per_user["alice"] = ["s0", "s1", "ghost"]
    fill_feeds(make_deps(rec, docs))
    alice = feed(docs, "alice")
    assert alice["kind"] == "popular" and alice["storyIds"] and not {"s0", "s1"} & set(alice["storyIds"])


def test_throttling_is_retried_with_backoff(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    rec.fail_times = 2
    waits: list[float] = []
    deps = make_deps(rec, docs, backoff_seconds=0.2, concurrency=1)
    deps.sleep = waits.append
    summary = fill_feeds(deps)
    assert summary.personalized == 2 and summary.stale == 0
    assert len([w for w in waits if w >= 0.1]) == 2 and 0.1 <= waits[0] <= 0.2 < waits[1] <= 0.4


def test_an_outage_keeps_previous_feeds_marks_them_stale_and_alerts_once(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    deps = make_deps(rec, docs)
    fill_feeds(deps)
    before = feed(docs, "alice")
    docs.set("ml_users/dave", {"USER_ID": "dave", "active": True, "updated_at": NOW})
    click(docs, "dave", "s9")  # warm, but no previous feed
    rec.fail = Unavailable("EndpointConnectionError", "unreachable: connection refused")
    summary = fill_feeds(at(deps, 24))
    after = feed(docs, "alice")
    assert after["storyIds"] == before["storyIds"] and after["stale"] is True
    assert "connection refused" in after["staleReason"]
    dave = feed(docs, "dave")
    assert dave["stale"] is True and dave["kind"] == "popular" and "s9" not in dave["storyIds"]
    assert summary.stale == 3 and summary.alerted
    assert len(deps.notifier.sent) == 1  # type: ignore[attr-defined]
    _subject, message, attrs = deps.notifier.sent[0]  # type: ignore[attr-defined]
    assert attrs["affected"] == "3" and "3 of 3 users" in message


def test_an_outage_whose_alert_cannot_be_sent_fails_the_run_after_its_work_so_the_scheduler_retries(
    docs: InMemoryDocumentStore,
) -> None:
    class DeadNotifier:
        def notify(self, subject: str, message: str, attributes: Any = None) -> str:
            raise ServiceUnavailable("SNS unreachable: connection refused")

    rec = recommender(ITEMS)
    deps = make_deps(rec, docs)
    fill_feeds(deps)
    rec.fail = Unavailable("EndpointConnectionError", "unreachable: connection refused")
    later = at(deps, 24)
    later.notifier = DeadNotifier()
    with pytest.raises(ServiceUnavailable, match="alert could not be sent"):
        fill_feeds(later)
    assert feed(docs, "alice")["stale"] is True  # the run's work is done: feeds kept and marked stale
    assert later.metrics.total("FeedsStale") == 2  # type: ignore[attr-defined]  # and its metrics are sent


def test_the_breaker_stops_calling_a_dead_service(docs: InMemoryDocumentStore) -> None:
    for i in range(50):
        click(docs, f"u{i:02d}", "s5")
    rec = recommender(ITEMS)
    rec.fail = Unavailable("EndpointConnectionError", "unreachable")
    summary = fill_feeds(make_deps(rec, docs, breaker_failures=5, retries=1, concurrency=1))
    assert summary.stale == 52
    assert len(rec.calls) == 5 * 2  # 5 users, each tried twice, then the breaker opened


def test_before_the_first_campaign_every_reader_gets_a_fresh_popular_feed_without_an_alert(
    docs: InMemoryDocumentStore,
) -> None:
    """No campaign yet is a young deployment's expected state, not an outage: popular feeds, not stale, no page."""
    click(docs, "alice", "s4", days_ago=60)  # read before the window: the campaign's filter would exclude it too
    docs.set("ml_users/carol", {"USER_ID": "carol", "active": True, "updated_at": NOW})
    rec = without_campaign(ITEMS)
    deps = make_deps(rec, docs)
    first_feed(deps, "alice", as_of=NOW - timedelta(days=1))  # a feed from the day before, which this run must replace
    summary = fill_feeds(deps)
    for uid in ("alice", "bob", "carol"):
        doc = feed(docs, uid)
        assert doc["kind"] == "popular" and doc["stale"] is False and doc["generatedAt"] == NOW, uid
        assert doc["staleReason"] is None and len(doc["storyIds"]) == 5, uid
    assert not {"s0", "s1", "s4"} & set(feed(docs, "alice")["storyIds"])
    assert not {"s0", "s2"} & set(feed(docs, "bob")["storyIds"])
    assert summary.no_campaign and summary.popular == 3 and summary.stale == 0 and summary.personalized == 0
    assert not summary.alerted and deps.notifier.sent == []  # type: ignore[attr-defined]
    assert deps.metrics.total("FeedFillNoCampaign") == 1  # type: ignore[attr-defined]
    assert rec.calls == [] and summary.solution_version_arn is None
    assert fill_feeds(at(deps, 24)).no_campaign and deps.notifier.sent == []  # type: ignore[attr-defined]


def test_a_campaign_that_exists_but_cannot_serve_still_marks_stale_and_alerts(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    deps = make_deps(rec, docs)
    fill_feeds(deps)
    rec.campaigns[CAMPAIGN.campaign_arn] = replace(
        rec.campaigns[CAMPAIGN.campaign_arn], status=Status.CREATE_FAILED, solution_version_arn=""
    )
    summary = fill_feeds(at(deps, 24))
    assert feed(docs, "alice")["stale"] is True and feed(docs, "alice")["kind"] == "personalized"
    assert summary.alerted and not summary.no_campaign and summary.stale == 2
    assert len(deps.notifier.sent) == 1  # type: ignore[attr-defined]


def test_personalize_down_before_the_first_campaign_is_an_outage(docs: InMemoryDocumentStore) -> None:
    """Unable to tell whether a campaign exists: the outage path (stale and one alert), never a silent popular."""
    rec = without_campaign(ITEMS)
    deps = make_deps(rec, docs)
    fill_feeds(deps)

    def down(kind: str, name: str, parent_arn: str | None = None) -> str | None:
        raise Unavailable("EndpointConnectionError", "unreachable: connection refused")

    rec.find_arn = down  # type: ignore[method-assign]
    summary = fill_feeds(at(deps, 24))
    assert feed(docs, "alice")["stale"] is True and summary.alerted and not summary.no_campaign


def test_refresh_before_the_first_campaign_gives_a_fresh_popular_feed(docs: InMemoryDocumentStore) -> None:
    result = refresh_user(make_deps(without_campaign(ITEMS), docs), "alice")
    assert result.kind == "popular" and not result.stale and result.reason is None and result.items == 5
    assert not {"s0", "s1"} & set(feed(docs, "alice")["storyIds"])


def test_a_recovered_user_is_no_longer_stale(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    deps = make_deps(rec, docs)
    rec.fail = PersonalizeError("InvalidInputException", "boom")
    fill_feeds(deps)
    assert feed(docs, "alice")["stale"] is True
    rec.fail = None
    fill_feeds(at(deps, 24))
    assert feed(docs, "alice")["stale"] is False and feed(docs, "alice")["staleReason"] is None


def test_rerun_is_idempotent(docs: InMemoryDocumentStore) -> None:
    deps = make_deps(recommender(ITEMS), docs)
    fill_feeds(deps)
    first = {p: d for p, d in docs.docs.items() if p.startswith("feeds/")}
    again = fill_feeds(deps)  # a redelivered run: same time, same feeds
    assert {p: d for p, d in docs.docs.items() if p.startswith("feeds/")} == first
    assert again.superseded == 2


def test_an_older_run_finishing_late_never_overwrites_a_newer_feed(docs: InMemoryDocumentStore) -> None:
    newer = fill_feeds(at(make_deps(recommender(ITEMS), docs), 24))
    kept = {p: d for p, d in docs.docs.items() if p.startswith("feeds/")}
    older_rec = recommender(list(reversed(ITEMS)))
    older = fill_feeds(make_deps(older_rec, docs))  # started a day earlier, its writes arrive now
    assert {p: d for p, d in docs.docs.items() if p.startswith("feeds/")} == kept
    assert older.superseded == 2 and newer.superseded == 0 and older_rec.calls


def test_an_older_run_never_replaces_the_newer_popularity_ranking(docs: InMemoryDocumentStore) -> None:
    fill_feeds(at(make_deps(recommender(ITEMS), docs), 24))
    ranking = docs.get("ml_state/popular_feed")
    click(docs, "carol", "s9")
    click(docs, "dave", "s9")  # s9 is now the most read, but in a run that started earlier
    fill_feeds(make_deps(recommender(ITEMS), docs))
    assert docs.get("ml_state/popular_feed") == ranking


def test_an_older_failing_run_neither_marks_nor_replaces_a_newer_feed(docs: InMemoryDocumentStore) -> None:
    click(docs, "dave", "s9")
    fill_feeds(at(make_deps(recommender(ITEMS), docs), 24))
    kept = {p: d for p, d in docs.docs.items() if p.startswith("feeds/")}
    rec = recommender(ITEMS)
    rec.fail = PersonalizeError("InvalidInputException", "unreachable")
    older = fill_feeds(make_deps(rec, docs))
    assert {p: d for p, d in docs.docs.items() if p.startswith("feeds/")} == kept
    assert older.stale == 0 and older.superseded == 3


def test_a_stale_mark_is_idempotent_and_keeps_the_feeds_version(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    fill_feeds(make_deps(rec, docs))
    rec.fail = PersonalizeError("InvalidInputException", "unreachable")
    fill_feeds(at(make_deps(rec, docs), 24))
    marked = feed(docs, "alice")
    again = fill_feeds(at(make_deps(rec, docs), 24))
    assert feed(docs, "alice") == marked and marked["stale"] is True and marked["generatedAt"] == NOW
    assert marked["staleSince"] == NOW + timedelta(hours=24) and again.stale == 2


def test_a_scheduled_run_racing_a_refresh_keeps_the_refreshed_feed(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    refresh_user(at(make_deps(rec, docs), 2), "alice")  # the user refreshed while the 1 h run was going
    refreshed = feed(docs, "alice")
    summary = fill_feeds(at(make_deps(recommender(list(reversed(ITEMS))), docs), 1))
    assert feed(docs, "alice") == refreshed and summary.superseded == 1
    assert feed(docs, "bob")["generatedAt"] == NOW + timedelta(hours=1)


def test_batch_path_past_the_threshold_writes_the_same_feeds(docs: InMemoryDocumentStore) -> None:
    realtime_docs = InMemoryDocumentStore()
    realtime_docs.docs = {k: dict(v) for k, v in docs.docs.items()}
    fill_feeds(make_deps(recommender(ITEMS), realtime_docs))
    rec = recommender(ITEMS, batch_store=InMemoryObjectStore("import"))
    summary = fill_feeds(make_deps(rec, docs, batch_threshold=1, batch_role_arn="arn:aws:iam::000000000000:role/p"))
    assert summary.mode == "batch" and summary.personalized == 2 and not rec.calls
    request = rec.batches[0]
    assert request.job_name == f"storyrec-feeds-{summary.run_id}"
    assert request.filter_arn and request.input_uri.startswith("s3://import/batch/feeds/")
    for uid in ("alice", "bob"):
        assert feed(docs, uid)["storyIds"] == feed(realtime_docs, uid)["storyIds"]
        assert feed(docs, uid)["recommendationId"] is None


def test_refresh_one_user(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    result = refresh_user(make_deps(rec, docs), "alice")
    assert result.kind == "personalized" and not result.stale and result.items == 5
    assert feed(docs, "alice")["storyIds"] == ["s2", "s3", "s4", "s5", "s6"]
    cold = refresh_user(make_deps(rec, docs), "nobody")
    assert cold.kind == "popular" and cold.items == 5


def test_refresh_failure_keeps_the_feed_stale(docs: InMemoryDocumentStore) -> None:
    rec = recommender(ITEMS)
    deps = make_deps(rec, docs)
    refresh_user(deps, "alice")
    rec.fail = Unavailable("EndpointConnectionError", "unreachable")
    result = refresh_user(at(deps, 1), "alice")
    assert result.stale and result.reason and feed(docs, "alice")["storyIds"] == ["s2", "s3", "s4", "s5", "s6"]


def test_first_feed_never_replaces_an_existing_feed(docs: InMemoryDocumentStore) -> None:
    deps = make_deps(recommender(ITEMS), docs)
    assert first_feed(deps, "newbie") is True
    assert feed(docs, "newbie")["kind"] == "popular" and len(feed(docs, "newbie")["items"]) == 5
    fill_feeds(deps)
    assert first_feed(deps, "alice") is False
    assert feed(docs, "alice")["kind"] == "personalized"


def test_a_redelivered_first_feed_never_replaces_a_later_refresh(docs: InMemoryDocumentStore) -> None:
    created = NOW - timedelta(minutes=5)
    deps = make_deps(recommender(ITEMS), docs)
    click(docs, "newbie", "s0")
    assert first_feed(deps, "newbie", as_of=created) is True
    assert first_feed(deps, "newbie", as_of=created) is False  # the same event again
    refresh_user(deps, "newbie")
    assert first_feed(at(deps, 1), "newbie", as_of=created) is False  # delivered again, an hour late
    assert feed(docs, "newbie")["kind"] == "personalized"


def test_nothing_showable_writes_nothing_rather_than_an_empty_feed() -> None:
    docs = InMemoryDocumentStore()
    docs.set("ml_users/carol", {"USER_ID": "carol", "active": True, "updated_at": NOW})
    summary = fill_feeds(make_deps(recommender([]), docs))
    assert docs.get("feeds/carol") is None
    assert first_feed(make_deps(recommender([]), docs), "carol") is False
    assert summary.users == 1


def test_items_json_is_valid_json_for_any_title_and_score(docs: InMemoryDocumentStore) -> None:
    odd = Story('q"\\/\n', 1, {"title": 'He said "hi"\n\u2028é', "url": None, "image": "x", "source": "\x01"})
    # a float subclass (numpy's float64 reprs as "np.float64(0.5)"), infinities and a bool are not JSON numbers as is
    stories = [(odd, 0.1), (odd, None), (odd, float("nan")), (odd, 3), (odd, np.float64(0.5)), (odd, float("-inf"))]
    stories += [(odd, True)]  # type: ignore[list-item]
    doc = feed_document(
        stories, kind="personalized", generated_at=NOW, run_id="r", campaign=None, recommendation_id=None
    )
    items = json.loads(doc["itemsJson"])
    assert [i["score"] for i in items] == [0.1, None, None, 3, 0.5, None, None]
    assert items[0] == {"storyId": 'q"\\/\n', "score": 0.1, **odd.display}


def test_items_json_is_valid_json_for_a_story_without_display_fields() -> None:
    bare = Story("s1", 1, {})
    doc = feed_document([(bare, 0.5)], kind="popular", generated_at=NOW, run_id="r", campaign=None,
                        recommendation_id=None)
    assert json.loads(doc["itemsJson"]) == [{"storyId": "s1", "score": 0.5}]


def test_only_items_json_is_read() -> None:
    shapes_never_shipped = {"storyIds": ["a"], "items": [{"storyId": "a", "rank": 1}]}
    assert feed_story_ids(shapes_never_shipped) == [] and feed_items(shapes_never_shipped) == []
    assert feed_items({"itemsJson": "not json"}) == [] and feed_story_ids({}) == []


class _WithdrawAfterAnswering:
    """Wraps a recommender: once its first answer is in, each of ``changes`` (story id → "delete" or "unpublish")
    is applied, after the run read its catalogue and before any feed is written."""

    def __init__(self, inner: Any, docs: InMemoryDocumentStore, changes: dict[str, str]) -> None:
        self._inner, self._docs, self._changes = inner, docs, changes
        self.applied = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _apply(self) -> None:
        if self.applied:
            return
        self.applied = True
        for sid, change in self._changes.items():
            if change == "delete":
                self._docs.delete(f"stories/{sid}")
            else:
                self._docs.set(f"stories/{sid}", {"status": "draft"}, merge=True)

    def get_recommendations(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._inner.get_recommendations(*args, **kwargs)
        self._apply()
        return answer

    def start_batch_inference(self, *args: Any, **kwargs: Any) -> Any:
        job = self._inner.start_batch_inference(*args, **kwargs)
        self._apply()
        return job


@pytest.mark.parametrize("batch", [False, True], ids=["realtime", "batch"])
def test_stories_withdrawn_after_recommending_are_rechecked_at_write_time(
    docs: InMemoryDocumentStore, batch: bool
) -> None:
    store = InMemoryObjectStore("batch") if batch else None
    rec = _WithdrawAfterAnswering(recommender(ITEMS, store), docs, {"s3": "delete", "s4": "unpublish"})
    docs.set("ml_users/newcomer", {"USER_ID": "newcomer", "active": True, "updated_at": NOW})  # a popular feed
    deps = make_deps(rec, docs, **({"batch_threshold": 1} if batch else {}))  # type: ignore[arg-type]
    summary = fill_feeds(deps)
    assert rec.applied and summary.mode == ("batch" if batch else "realtime")
    assert feed(docs, "alice")["storyIds"] == ["s2", "s5", "s6"]
    assert feed(docs, "bob")["storyIds"] == ["s1", "s5", "s6"]
    for uid in ("alice", "bob", "newcomer"):
        stored = feed(docs, uid)
        assert not {"s3", "s4"} & set(stored["storyIds"]), uid
        assert json.loads(stored["itemsJson"]) == stored["items"]
    assert summary.withdrawn >= 4


def test_a_feed_left_empty_by_the_recheck_is_not_written(docs: InMemoryDocumentStore) -> None:
    fill_feeds(make_deps(recommender(ITEMS), docs))
    before = feed(docs, "alice")
    gone = {sid: "delete" for sid in ITEMS}
    rec = _WithdrawAfterAnswering(recommender(ITEMS), docs, gone)
    summary = fill_feeds(at(make_deps(rec, docs), 1))  # type: ignore[arg-type]
    assert feed(docs, "alice") == before  # the previous feed stays rather than a blank one
    assert summary.missing == 2 and summary.personalized == 2


class SlowCatalogue(InMemoryDocumentStore):
    """Holds the run's catalogue read (``get_many`` of the stories) until the campaign has answered ``calls``
    users, or fails it."""

    def __init__(self, source: InMemoryDocumentStore, answered: Any, fail: bool = False) -> None:
        super().__init__()
        for snap in source.query(Query("stories")) + source.query(Query("ml_items")):
            self.set(snap.path, snap.data)
        for snap in source.query(Query("ml_interactions")):
            self.set(snap.path, snap.data)
        self.answered, self.fail, self.held = answered, fail, False

    def get_many(self, paths: Any, **kw: Any) -> Any:
        if not self.held and paths and str(next(iter(paths))).startswith("stories/"):
            self.held = True
            assert self.answered.wait(10), "the campaign was not called while the catalogue loaded"
            if self.fail:
                raise ServiceUnavailable("firestore down")
        return super().get_many(paths, **kw)


def test_recommending_starts_while_the_catalogue_loads_and_builds_the_same_feeds(
    docs: InMemoryDocumentStore,
) -> None:
    users = [f"u{k}" for k in range(40)]
    answered = threading.Event()
    rec = recommender(ITEMS)
    calls = rec.get_recommendations

    def counting(*args: Any, **kwargs: Any) -> Any:
        out = calls(*args, **kwargs)
        answered.set()
        return out

    rec.get_recommendations = counting  # type: ignore[method-assign]
    slow = SlowCatalogue(docs, answered)
    summary = fill_feeds(make_deps(rec, slow), users=users)
    assert slow.held and summary.personalized == len(users)
    reference = InMemoryDocumentStore()
    for snap in slow.query(Query("stories")) + slow.query(Query("ml_items")):
        reference.set(snap.path, snap.data)
    fill_feeds(make_deps(recommender(ITEMS), reference), users=users)
    for uid in users:
        assert feed(slow, uid)["items"] == feed(reference, uid)["items"]


def test_a_catalogue_that_cannot_be_read_fails_the_run_without_writing_a_feed(docs: InMemoryDocumentStore) -> None:
    answered = threading.Event()
    answered.set()
    slow = SlowCatalogue(docs, answered, fail=True)
    with pytest.raises(ServiceUnavailable):
        fill_feeds(make_deps(recommender(ITEMS), slow), users=["alice", "bob"])
    assert slow.query(Query("feeds")) == []


def test_a_reader_who_read_the_whole_popular_ranking_gets_the_newest_stories_they_have_not_read() -> None:
    """The ranking holds twice a feed's length; a reader who read all of it still gets a fresh feed of unread
    stories, not their old feed of stories they have read."""
    docs = InMemoryDocumentStore()
    for age, sid in enumerate(reversed(ITEMS)):  # s11 is the newest story, s0 the oldest
        story(docs, sid, age_days=1 + age)
    for sid in ITEMS[:10]:  # the ranking: the ten stories read in the window
        click(docs, "heavy", sid)
    docs.set("feeds/heavy", {"storyIds": ["s0"], "generatedAt": NOW - timedelta(days=1)})
    summary = fill_feeds(make_deps(without_campaign(ITEMS), docs))
    assert summary.missing == 0 and summary.popular == 1
    assert feed(docs, "heavy")["storyIds"] == ["s11", "s10"]
    assert feed(docs, "heavy")["generatedAt"] == NOW


class HeldCatalogue(SlowCatalogue):
    """Holds the run's catalogue read until the campaign has not been called for a while (the run waits for
    it), and records how many users the campaign had answered by then."""

    def __init__(self, source: InMemoryDocumentStore, calls: list[str]) -> None:
        super().__init__(source, threading.Event())
        self.calls, self.answered_before_release = calls, -1

    def get_many(self, paths: Any, **kw: Any) -> Any:
        if not self.held and paths and str(next(iter(paths))).startswith("stories/"):
            self.held = True
            seen = -1
            while len(self.calls) != seen:  # released once the calls have stopped
                seen = len(self.calls)
                threading.Event().wait(0.2)
            self.answered_before_release = seen
        return InMemoryDocumentStore.get_many(self, paths, **kw)


def test_answers_wait_for_the_catalogue_up_to_a_bound_then_the_run_waits_for_it(
    docs: InMemoryDocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow catalogue read does not let every call be made first and every feed built after them: past
    MAX_WAITING answers the run waits for the catalogue (and its feeds are the same)."""
    from shared.recommend import realtime

    monkeypatch.setattr(realtime, "MAX_WAITING", 20)
    users = [f"u{k}" for k in range(300)]
    calls: list[str] = []
    rec = recommender(ITEMS)
    answer = rec.get_recommendations

    def counting(campaign: str, uid: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(uid)
        return answer(campaign, uid, *args, **kwargs)

    rec.get_recommendations = counting  # type: ignore[method-assign]
    held = HeldCatalogue(docs, calls)
    deps = make_deps(rec, held)
    summary = fill_feeds(deps, users=users)
    window = deps.config.concurrency * 4
    assert 20 <= held.answered_before_release <= 20 + window + deps.config.concurrency
    assert summary.personalized == len(users) and len(calls) == len(users)
    reference = InMemoryDocumentStore()
    for snap in held.query(Query("stories")) + held.query(Query("ml_items")):
        reference.set(snap.path, snap.data)
    fill_feeds(make_deps(recommender(ITEMS), reference), users=users)
    assert all(feed(held, uid)["items"] == feed(reference, uid)["items"] for uid in users)


def test_an_unexpected_error_on_one_worker_stops_the_others_and_reaches_the_caller(
    docs: InMemoryDocumentStore,
) -> None:
    """A bug (not a Personalize failure) for one reader fails the run, as it did when the main thread collected
    each answer: the other workers stop after their current reader instead of calling for everyone."""
    users = [f"u{k}" for k in range(5000)]
    rec = recommender(ITEMS)
    answer = rec.get_recommendations
    calls: list[str] = []

    def failing(campaign: str, uid: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(uid)
        if uid == "u5":
            raise RuntimeError("a bug in the answer's parsing")
        return answer(campaign, uid, *args, **kwargs)

    rec.get_recommendations = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="a bug in the answer's parsing"):
        fill_feeds(make_deps(rec, docs), users=users)
    assert "u5" in calls and len(calls) < len(users)
