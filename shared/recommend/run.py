"""One feed run's shared state and its common steps: the window read, feed building, stale marks, the report."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.errors import ServiceUnavailable
from shared.experiment.assign import Experiment
from shared.logs import get_logger
from shared.personalize.model import Recommendations
from shared.ports import NewerWrite, Query, Where, chunked
from shared.recommend.campaign import CampaignInfo
from shared.recommend.catalogue import Catalogue, History, Story
from shared.recommend.deps import FeedDeps, FillSummary
from shared.recommend.document import FeedKind, Scored, clean, feed_document, popular_for
from shared.recommend.readers import ReaderIndex, split_known
from shared.recommend.writer import WRITE_CHUNK, FeedWrite, recheck_stories, write_feeds

_log = get_logger("recommend")
ATTRIBUTION_SOURCES = {"control": "storyrec-control", "challenger": "storyrec-challenger"}
"""The event attribution source of an arm's feeds (Personalize's metric attribution reports per source)."""
POPULAR_SOURCE = "storyrec-popular"
NEWEST_TOP_UP = 1000
"""How many of the newest stories can top up a popular feed the reader has mostly read."""


@dataclass
class FeedRun:
    """What every user of one run shares: the time, the window, the catalogue, the campaign, the failures."""

    deps: FeedDeps
    summary: FillSummary
    now: datetime
    history: History
    catalogue: Catalogue
    ranking: list[Story]
    campaign: CampaignInfo | None
    filter_arn: str | None
    filter_values: dict[str, str]
    failures: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    experiment: Experiment = field(default_factory=lambda: Experiment(None))
    newest: list[Story] | None = None
    readers: ReaderIndex | None = None
    """The readers' aggregates (None: the queries on ``ml_interactions``, as a refresh does)."""

    def document(
        self, uid: str, stories: list[Scored], kind: FeedKind, rid: str | None, stale_reason: str | None = None
    ) -> dict[str, Any]:
        """The feed document, with the reader's ``arm``, ``experimentId`` and ``attributionSource``
        (docs/client.md, :func:`attribution_source`)."""
        arm = self.experiment.arm(uid)
        source = attribution_source(arm, kind, rid)
        return feed_document(
            stories,
            kind=kind,
            generated_at=self.now,
            run_id=self.summary.run_id,
            campaign=self.campaign,
            recommendation_id=rid,
            stale_reason=stale_reason,
            arm=arm,
            experiment_id=self.experiment.experiment_id,
            attribution_source=source,
            solution_version=self.experiment.challenger if arm == "challenger" else None,
        )

    def personalized(self, uid: str, ranked: Recommendations) -> FeedWrite | None:
        limit = self.deps.personalize.num_results
        seen = self.history.seen.get(uid, set())
        stories = clean(ranked, seen, self.catalogue, limit)
        kind: FeedKind = "personalized"
        if not stories:  # everything recommended was read, deleted or too old: never an empty feed
            stories, kind = self.popular_feed(uid), "popular"
        return self._write(uid, stories, kind, ranked.recommendation_id)

    def cold(self, uid: str) -> FeedWrite | None:
        return self._write(uid, self.popular_feed(uid), "popular", None)

    def popular_feed(self, uid: str) -> list[Scored]:
        """The popular ranking minus what the reader read, topped up with the newest stories they have not read:
        a reader who read the whole ranking still gets a fresh feed, not their old one."""
        seen = self.history.seen.get(uid, set())
        limit = self.deps.personalize.num_results
        stories = popular_for(seen, self.ranking, limit)
        if len(stories) < limit:
            chosen = seen | {story.story_id for story, _ in stories}
            stories += popular_for(chosen, self._newest(), limit - len(stories))
        return stories

    def _newest(self) -> list[Story]:
        with self.lock:  # read once per run, by the first reader who needs it (the catalogue is preloaded)
            if self.newest is None:
                self.newest = self.catalogue.newest(NEWEST_TOP_UP)
            return self.newest

    def _write(self, uid: str, stories: list[Scored], kind: FeedKind, rid: str | None) -> FeedWrite | None:
        with self.lock:  # feeds are built on the worker threads
            if not stories:  # nothing showable at all: leave whatever the user has rather than blank it
                self.summary.missing += 1
                return None
            if kind == "personalized":
                self.summary.personalized += 1
            else:
                self.summary.popular += 1
            arm = self.experiment.arm(uid)
            if arm != "champion":
                self.summary.arms[arm] = self.summary.arms.get(arm, 0) + 1
        doc = self.document(uid, stories, kind, rid)
        write = NewerWrite(f"{self.deps.collections.feeds}/{uid}", doc, self.now)
        return FeedWrite(write, tuple(story.story_id for story, _ in stories))


def attribution_source(arm: str, kind: str, rid: str | None) -> str | None:
    """Who a feed's clicks are credited to in Personalize's metric attribution: ``storyrec-control`` for the
    control arm's feed, ``storyrec-challenger`` only for a feed the candidate made, none when Personalize's
    recommendation id attributes it, else ``storyrec-popular``. A challenger reader the candidate could not
    serve (cold, or nothing showable) keeps the arm (the lift counts readers by their assigned arm,
    docs/experiment.md) but its popular feed is not credited to the candidate."""
    if arm == "control":
        return ATTRIBUTION_SOURCES["control"]
    if arm == "challenger" and kind == "personalized":
        return ATTRIBUTION_SOURCES["challenger"]
    if rid is not None:
        return None
    return POPULAR_SOURCE if kind == "popular" else None


def interaction(data: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(user, item, event type) of an ``ml_interactions`` document, None when its ids are missing or not text."""
    user, item, event = data.get("USER_ID"), data.get("ITEM_ID"), data.get("EVENT_TYPE")
    if isinstance(user, str) and isinstance(item, str) and user and item:
        return user, item, str(event)
    return None


def recency_weight(timestamp: Any, now: float, half_life_hours: float) -> float:
    """An interaction's weight in the popularity ranking: halved every ``half_life_hours`` of age (a time in the
    future counts as now; a missing or non-number time counts nothing)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float) or timestamp != timestamp:
        return 0.0
    age_hours = max(now - float(timestamp), 0.0) / 3600.0
    return float(0.5 ** (age_hours / half_life_hours))


def read_window(deps: FeedDeps, since: datetime, now: datetime) -> tuple[History, list[str]]:
    """Interactions since ``since`` and the users active in it (interactions or a profile change)."""
    cols, config = deps.collections, deps.config
    history = History()
    query = Query(cols.ml_interactions, (Where("TIMESTAMP", ">=", int(since.timestamp())),), ("TIMESTAMP",))
    at = now.timestamp()
    for snap in deps.docs.stream(query):
        if (found := interaction(snap.data)) is not None:
            weight = recency_weight(snap.data.get("TIMESTAMP"), at, config.popular_half_life_hours)
            history.add(*found, config.seen_event_types, weight)
    users = dict.fromkeys(sorted(history.seen))
    inactive: set[str] = set()
    for snap in deps.docs.stream(Query(cols.ml_users, (Where("updated_at", ">=", since),), ("updated_at",))):
        if snap.data.get("active") is False:
            inactive.add(snap.id)
        else:
            users.setdefault(snap.id)
    return history, [u for u in users if u not in inactive]


IN_QUERY_LIMIT = 30
"""Firestore's most values in one ``in`` filter."""


def add_whole_history(run: FeedRun, users: Sequence[str]) -> None:
    """Add everything ``users`` ever read (outside the window too) to the run's history: from their aggregates,
    read by id in bulk, or (no trusted aggregate) a query on ``ml_interactions`` per 30 readers.

    For feeds not made by the campaign whose filter already excludes all a reader read (the control arm's
    popularity feed): otherwise it would repeat old reads that the campaign's feed never shows.
    """
    deps = run.deps
    rest = list(users)
    if run.readers is not None:
        known, rest = split_known(run.readers, rest)
        for uid, aggregate in known.items():
            if aggregate.items:  # as a query marks every reader it finds, whatever the event type
                run.history.seen.setdefault(uid, set()).update(aggregate.seen(deps.config.seen_event_types))
    run.summary.history_queries += len(rest)
    for group in chunked(rest, IN_QUERY_LIMIT):
        query = Query(deps.collections.ml_interactions, (Where("USER_ID", "in", list(group)),))
        for snap in deps.docs.stream(query):
            if (found := interaction(snap.data)) is not None:
                run.history.mark_seen(*found, deps.config.seen_event_types)


def keep_previous(run: FeedRun) -> None:
    """Failed users keep their previous feed, marked stale; without one they get a stale popular feed.

    Both are guarded writes at the run's time: a feed some newer run or refresh wrote is neither marked
    stale nor replaced.
    """
    deps, summary = run.deps, run.summary
    for uids in chunked(list(run.failures), WRITE_CHUNK):
        marks = [
            NewerWrite(
                f"{deps.collections.feeds}/{uid}",
                {"stale": True, "staleReason": run.failures[uid][:500], "staleSince": run.now},
                run.now,
                merge=True,
            )
            for uid in uids
        ]
        fallbacks: list[FeedWrite] = []
        for uid, outcome in zip(uids, write_feeds(deps.docs, marks), strict=True):
            if outcome != "absent":
                summary.stale += outcome == "written"
                summary.superseded += outcome == "kept"
                continue
            stories = run.popular_feed(uid)
            if not stories:
                summary.missing += 1
                continue
            doc = run.document(uid, stories, "popular", None, run.failures[uid][:500])
            write = NewerWrite(f"{deps.collections.feeds}/{uid}", doc, run.now)
            fallbacks.append(FeedWrite(write, tuple(story.story_id for story, _ in stories)))
        checked = recheck_stories(fallbacks, run.catalogue.recheck)
        summary.withdrawn += checked.withdrawn
        summary.missing += checked.emptied
        for outcome in write_feeds(deps.docs, checked.writes):
            summary.stale += outcome == "written"
            summary.superseded += outcome == "kept"


def finish(deps: FeedDeps, summary: FillSummary, failures: Mapping[str, str]) -> None:
    """One alert when users were left stale, the run's metrics, and its summary in the log.

    An alert that cannot be sent (SNS down) fails the run once its feeds and metrics are written: stale feeds
    must never go unreported, and the scheduler's retry fills again and alerts (the tick's claim is released).
    """
    unsent: Exception | None = None
    if failures:
        sample = next(iter(failures.values()))
        message = (
            f"Feed fill {summary.run_id}: Personalize failed for {len(failures)} of {summary.users} users; "
            f"their previous feeds were kept and marked stale ({summary.missing} had none). First error: {sample}"
        )
        try:
            deps.notifier.notify(
                "storyrec feed fill degraded", message, {"run_id": summary.run_id, "affected": str(len(failures))}
            )
            summary.alerted = True
        except Exception as exc:  # raised below, after the metrics and the summary
            _log.exception("alert failed")
            unsent = exc
    for name, value in (
        ("FeedsPersonalized", summary.personalized),
        ("FeedsPopular", summary.popular),
        ("FeedsStale", summary.stale),
        ("FeedsMissing", summary.missing),
        ("FeedStoriesWithdrawn", summary.withdrawn),
    ):
        deps.metrics.put(name, float(value))
    if summary.no_campaign:
        deps.metrics.put("FeedFillNoCampaign")
    deps.metrics.put("FeedFillSeconds", summary.seconds, unit="Seconds")
    try:
        deps.metrics.flush()
    except Exception:
        _log.exception("metrics flush failed")
    _log.info("feed fill finished", extra=summary.as_dict())
    if unsent is not None:
        raise ServiceUnavailable(
            f"feed fill {summary.run_id}: {len(failures)} users left stale and the alert could not be sent: {unsent}"
        ) from unsent
