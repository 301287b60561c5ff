"""Feed fill end to end: Firestore emulator + the local Personalize engine trained on Deskdrop + moto SNS/SQS."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from benchmarks.bench_feeds import WholeDocuments
from shared import wiring
from shared.adapters.personalize import PersonalizeGateway
from shared.adapters.sns import SnsNotifier
from shared.ports import Query, Write
from shared.recommend import FeedDeps, fill_feeds, first_feed, refresh_user
from shared.recommend.campaign import AGE_PARAM, ensure_feed_filter, filter_expression, filter_name, request_size
from shared.recommend.document import feed_items, feed_story_ids
from shared.recommend.wiring import feed_deps
from tests.integration.recommend.conftest import Deskdrop

pytestmark = pytest.mark.integration
MS = timedelta(milliseconds=1)


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def make_deps(deskdrop: Deskdrop, seeded: Any, sns_topic: Any) -> Callable[..., FeedDeps]:
    def build(later: timedelta = timedelta(0), **config: Any) -> FeedDeps:
        """Deps of a run ``later`` than the subset's time: a later run writes over an earlier one's feeds.
        (A millisecond is enough, and keeps the same users in the window.)"""
        settings = deskdrop.settings
        deps = feed_deps(settings, clock=lambda: deskdrop.now + later)
        deps.notifier = SnsNotifier(wiring.aws_client("sns", settings), sns_topic.topic_arn)
        deps.config = replace(deps.config, **config)
        deps.batch_poll_seconds = 0.2
        return deps

    return build


def feeds(docs: Any) -> dict[str, dict[str, Any]]:
    """Every stored feed, with its ``itemsJson`` decoded into ``items`` and ``storyIds`` (as the homepage would)."""
    return {
        s.id: {**s.data, "items": feed_items(s.data), "storyIds": feed_story_ids(s.data)}
        for s in docs.stream(Query("feeds"))
    }


def read_by_user(deskdrop: Deskdrop) -> dict[str, set[str]]:
    grouped = deskdrop.interactions.groupby("USER_ID")["ITEM_ID"]
    return {str(u): {str(i) for i in items} for u, items in grouped}


def active_users(deskdrop: Deskdrop) -> set[str]:
    since = int((deskdrop.now - timedelta(days=14)).timestamp())
    frame = deskdrop.interactions
    return {str(u) for u in frame.loc[frame["TIMESTAMP"] >= since, "USER_ID"].unique()}


def test_every_active_user_gets_a_feed_in_the_campaigns_order(
    deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps]
) -> None:
    # a popular story is deleted after training: the engine still knows it, the feed must not show it
    top = deskdrop.interactions["ITEM_ID"].value_counts().index[0]
    seeded.delete(f"stories/{top}")
    seeded.set(f"ml_items/{top}", {"active": False}, merge=True)
    deps = make_deps()
    summary = fill_feeds(deps)
    written = feeds(seeded)
    active = active_users(deskdrop)
    assert active and set(written) == active
    assert summary.personalized + summary.popular == len(active) and summary.stale == 0
    read = read_by_user(deskdrop)
    for uid, feed in written.items():
        assert feed["storyIds"], uid
        assert not set(feed["storyIds"]) & read.get(uid, set()), uid
        assert str(top) not in feed["storyIds"]
        assert feed["solutionVersionArn"] in (deskdrop.solution_version_arn, None)
        assert all(item["url"].endswith(item["storyId"]) for item in feed["items"])
    # the order is GetRecommendations' order (same filter, same values), minus what the write-time check drops
    runtime = wiring.aws_client("personalize-runtime", deskdrop.settings)
    expression = filter_expression(deps.config)
    filter_arn = ensure_feed_filter(
        deps.recommender,
        filter_name(deskdrop.settings.personalize.filter, expression),
        deskdrop.settings.personalize.dataset_group,
        expression,
    )
    personalized = [u for u, f in written.items() if f["kind"] == "personalized"]
    assert personalized
    for uid in sorted(personalized)[:15]:
        answer = runtime.get_recommendations(
            campaignArn=deskdrop.campaign_arn,
            userId=uid,
            numResults=request_size(10),
            filterArn=filter_arn,
            filterValues={AGE_PARAM: str(int(deskdrop.now.timestamp()) - 3650 * 86400)},
        )["itemList"]
        expected = [i["itemId"] for i in answer if i["itemId"] != str(top) and i["itemId"] not in read[uid]][:10]
        assert written[uid]["storyIds"] == expected, uid
        assert [i["score"] for i in written[uid]["items"]] == [i["score"] for i in answer if i["itemId"] in expected]


def test_a_cold_user_gets_a_non_empty_popular_feed(
    deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps]
) -> None:
    seeded.set("ml_users/newcomer", {"USER_ID": "newcomer", "active": True, "updated_at": deskdrop.now})
    fill_feeds(make_deps())
    feed = feeds(seeded)["newcomer"]
    assert feed["kind"] == "popular" and len(feed["storyIds"]) == 10 and not feed["stale"]


def test_rerunning_a_fill_is_idempotent(deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps]) -> None:
    deps = make_deps()
    fill_feeds(deps, run_id="r1")
    first = feeds(seeded)
    fill_feeds(deps, run_id="r1")
    second = feeds(seeded)
    assert set(first) == set(second)
    for uid, feed in first.items():
        again = second[uid]
        assert again == feed, uid  # the same run redelivered: every write is a no-op
        assert (again["kind"], again["stale"], again["generatedAt"]) == (feed["kind"], False, feed["generatedAt"])


def test_an_older_run_finishing_after_a_newer_one_changes_no_feed(
    deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps]
) -> None:
    newer = fill_feeds(make_deps(later=MS), run_id="newer")
    kept = feeds(seeded)
    older = fill_feeds(make_deps(), run_id="older")  # started first, its writes arrive last
    assert feeds(seeded) == kept and {f["runId"] for f in kept.values()} == {"newer"}
    assert older.superseded == newer.personalized + newer.popular == len(kept)


def test_an_engine_outage_keeps_the_old_feeds_marks_them_stale_and_alerts_once(
    deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps], sns_topic: Any
) -> None:
    fill_feeds(make_deps())
    before = feeds(seeded)
    deps = make_deps(later=MS, retries=1, breaker_failures=3)
    dead = dead_endpoint()
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2)
    control = boto3.client("personalize", endpoint_url=dead, region_name="us-east-1", config=config)
    runtime = boto3.client("personalize-runtime", endpoint_url=dead, region_name="us-east-1", config=config)
    deps.recommender = PersonalizeGateway(control, runtime)
    summary = fill_feeds(deps)
    after = feeds(seeded)
    assert set(after) == set(before)
    # the control arm's readers (the 5 % holdout) had the popularity feed; in the outage they fail like the rest
    control = [f for f in before.values() if f.get("arm") == "control"]
    assert control and all(f["kind"] == "popular" and f["attributionSource"] == "storyrec-control" for f in control)
    warm = [u for u, f in before.items() if f["kind"] == "personalized" or f.get("arm") == "control"]
    for uid in warm:
        assert after[uid]["storyIds"] == before[uid]["storyIds"]
        assert after[uid]["stale"] is True and after[uid]["staleReason"]
    assert summary.stale == len(warm) and summary.alerted
    messages = sns_topic.messages(expect=2, timeout=5)
    assert len(messages) == 1
    assert messages[0]["MessageAttributes"]["affected"]["Value"] == str(len(warm))


@pytest.mark.parametrize("campaign", ["never-promoted", "arn:aws:personalize:us-east-1:000000000000:campaign/none"])
def test_before_the_first_campaign_every_reader_gets_a_fresh_popular_feed_and_nobody_is_paged(
    deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps], sns_topic: Any, campaign: str
) -> None:
    """No campaign (by name or ARN) on the real engine: popular feeds without anything ever read, no stale, no SNS."""
    fill_feeds(make_deps())  # yesterday's feeds, from a campaign
    deps = make_deps(later=MS)
    deps.personalize = replace(deps.personalize, campaign=campaign)
    summary = fill_feeds(deps)
    after = feeds(seeded)
    active = active_users(deskdrop)
    assert summary.no_campaign and not summary.alerted and summary.stale == 0 and summary.personalized == 0
    # a reader who read every story of the popular ranking (2 x NUM_RESULTS) gets nothing new: counted missing,
    # their feed is left as it was (as for a cold or control reader)
    assert summary.popular + summary.missing == len(active) == len(after) and summary.missing <= len(active) // 50
    read = read_by_user(deskdrop)
    written = {uid: feed for uid, feed in after.items() if feed["generatedAt"] == deskdrop.now + MS}
    assert len(written) == summary.popular
    for uid, feed in written.items():
        assert feed["kind"] == "popular" and feed["stale"] is False and feed["solutionVersionArn"] is None, uid
        assert feed["storyIds"] and not set(feed["storyIds"]) & read.get(uid, set()), uid
    assert sum(len(f["storyIds"]) == 10 for f in written.values()) >= 0.9 * len(written)
    assert not any(feed["stale"] for feed in after.values())
    assert sns_topic.messages(expect=1, timeout=3) == []
    uid = sorted(active)[0]
    result = refresh_user(deps, uid)
    assert result.kind == "popular" and not result.stale and result.reason is None


def test_the_batch_path_writes_the_same_feeds(
    deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps]
) -> None:
    fill_feeds(make_deps())
    realtime = feeds(seeded)
    summary = fill_feeds(make_deps(later=MS, batch_threshold=1), run_id="batch-1")
    batch = feeds(seeded)
    assert summary.mode == "batch" and summary.stale == 0
    for uid, feed in realtime.items():
        assert batch[uid]["storyIds"] == feed["storyIds"], uid
        assert batch[uid]["runId"] == "batch-1"


def test_refresh_one_user_on_demand(deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps]) -> None:
    uid = sorted(active_users(deskdrop))[0]
    result = refresh_user(make_deps(), uid)
    assert result.kind == "personalized" and result.items == 10 and not result.stale
    assert not set(feeds(seeded)[uid]["storyIds"]) & read_by_user(deskdrop)[uid]


class CatalogueRead:
    """The run's document store, noting when its catalogue read (the first ``get_many``: the stories) is done;
    the catalogue loads while the first GetRecommendations calls are made."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.loaded = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_many(self, paths: Any, **kw: Any) -> Any:
        found = self._inner.get_many(paths, **kw)
        self.loaded.set()
        return found


class WithdrawsAfterAnswering:
    """The engine, but once its first answer is in and the run's catalogue is loaded, ``delete`` is deleted
    and ``unpublish`` unpublished: stories the run's catalogue still holds as showable."""

    def __init__(self, inner: Any, docs: Any, delete: str, unpublish: str, loaded: threading.Event) -> None:
        self._inner, self._docs = inner, docs
        self._delete, self._unpublish = delete, unpublish
        self._loaded = loaded
        self._lock = threading.Lock()
        self.done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_recommendations(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._inner.get_recommendations(*args, **kwargs)
        assert self._loaded.wait(120), "the run's catalogue was never read"
        with self._lock:
            if not self.done:
                self._docs.delete(f"stories/{self._delete}")
                self._docs.set(f"ml_items/{self._delete}", {"active": False}, merge=True)
                self._docs.set(f"stories/{self._unpublish}", {"status": "draft"}, merge=True)  # ml_items lags
                self.done = True
        return answer


def test_stories_withdrawn_after_recommending_never_reach_a_feed(
    deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps]
) -> None:
    """A story deleted, and one unpublished, between GetRecommendations and the write: re-checked at write time."""
    fill_feeds(make_deps())
    counts = Counter(s for feed in feeds(seeded).values() for s in feed["storyIds"])
    (deleted, in_deleted), (unpublished, in_unpublished) = counts.most_common(2)
    assert in_deleted > 1 and in_unpublished > 1  # both were in many feeds before

    deps = make_deps(later=MS)
    deps.docs = store = CatalogueRead(deps.docs)
    deps.recommender = WithdrawsAfterAnswering(deps.recommender, seeded, deleted, unpublished, store.loaded)
    summary = fill_feeds(deps)

    assert deps.recommender.done
    written = feeds(seeded)
    assert {f["runId"] for f in written.values()} == {summary.run_id}
    offending = {u for u, f in written.items() if {deleted, unpublished} & set(f["storyIds"])}
    assert offending == set()
    assert all(f["storyIds"] for f in written.values())
    assert summary.withdrawn >= 1


def test_the_catalogues_field_masks_change_no_feed(
    deskdrop: Deskdrop, seeded: Any, make_deps: Callable[..., FeedDeps]
) -> None:
    """The fill through its field masks writes the feeds, the saved ranking and the first feeds a fill reading
    whole documents writes, on stories shaped like a news app's (body, summary, tags) and the cases the masked
    fields decide: the display fields falling back to ml_items' TITLE and SOURCE, a draft, status spellings.
    The cases are the stories a first fill shows most: which ones the model shows depends on the engine (the
    most read ones are often already read, so neither recommended nor in the trending ranking)."""
    fill_feeds(make_deps(), run_id="probe")
    shown_before = Counter(s for f in feeds(seeded).values() for s in f["storyIds"])
    shown_before.update(seeded.get("ml_state/popular_feed")["storyIds"])
    top = [story for story, _ in shown_before.most_common(4)]
    extra = {"summary": "s " * 600, "body": "word " * 1000, "tags": ["a", "b", "c"], "lang": "en"}
    seeded.write_batch(
        [Write(f"stories/{row.ITEM_ID}", data=extra, merge=True) for row in deskdrop.items.itertuples(index=False)]
    )
    seeded.set(f"stories/{top[0]}", {**extra, "url": "https://deskdrop/x", "status": "published"})  # no title, source
    seeded.set(f"ml_items/{top[0]}", {"TITLE": "Item title", "SOURCE": "item source", "SUMMARY": "s"}, merge=True)
    seeded.set(f"stories/{top[1]}", {"status": "draft"}, merge=True)  # ml_items still says active
    seeded.set(f"stories/{top[2]}", {"status": " Published "}, merge=True)
    seeded.set(f"stories/{top[3]}", {"title": "No status", "url": "u", "image": "i", "source": "s"})

    def run(deps: FeedDeps, run_id: str, newcomer: str) -> tuple[Any, ...]:
        summary = fill_feeds(deps, run_id=run_id)
        assert first_feed(deps, newcomer)
        written = feeds(seeded)
        first = written.pop(newcomer)
        kept = {u: (f["kind"], f["stale"], f["items"]) for u, f in written.items() if not u.startswith("newcomer")}
        counts = (summary.personalized, summary.popular, summary.missing, summary.withdrawn, summary.stale)
        ranking = seeded.get("ml_state/popular_feed")["storyIds"]
        return kept, counts, ranking, (first["kind"], first["items"])

    masked = run(make_deps(later=MS), "masked", "newcomer-m")
    whole_deps = make_deps(later=2 * MS)
    whole_deps.docs = WholeDocuments(whole_deps.docs)
    whole = run(whole_deps, "whole", "newcomer-w")
    assert masked == whole
    shown = {i["storyId"]: i for items in (f[2] for f in masked[0].values()) for i in items}
    assert top[1] not in shown and top[1] not in masked[2]  # the draft
    assert {top[0], top[2], top[3]} <= set(shown) | set(masked[2])
    assert (shown[top[0]]["title"], shown[top[0]]["source"]) == ("Item title", "item source")
