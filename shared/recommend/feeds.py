"""Feed fill: every active user's ``feeds/{uid}`` from the campaign, never empty, never silently stale.

Order of a run: the filter (describe-or-create), the campaign's serving version, the window of recent
interactions (active users, what each has read, what is popular), then per user GetRecommendations
under a rate limit (or one batch inference job past a threshold), write-time checks against the
catalogue, version-guarded writes in batches of 500 on writer threads (a feed never replaces a newer
one); users the recommender failed keep their previous feed marked stale, and one alert tells the
operators how many.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.config import Collections, PersonalizeSettings, RecommendSettings
from shared.logs import get_logger
from shared.ports import (
    Clock,
    DocumentStore,
    MetricsSink,
    NewerWrite,
    Notifier,
    ObjectStore,
    Query,
    Where,
    chunked,
)
from shared.recommend.catalogue import Catalogue, History, Story, popular
from shared.recommend.ports import (
    BatchRequest,
    CampaignInfo,
    Ranked,
    Recommender,
    RecommenderError,
    ranked_from_batch_line,
)

_log = get_logger("recommend")
DAY = 86400
WRITE_CHUNK = 500
WRITER_THREADS = 4
AGE_PARAM = "MIN_CREATED"
VERSION_FIELD = "generatedAt"
"""The field every feed write is guarded on: a feed is written only over an absent or older one."""
FeedKind = Literal["personalized", "popular"]


@dataclass
class FeedDeps:
    """Everything a feed fill needs, injected."""

    docs: DocumentStore
    recommender: Recommender
    notifier: Notifier
    metrics: MetricsSink
    clock: Clock
    collections: Collections
    personalize: PersonalizeSettings
    config: RecommendSettings
    batch_store: ObjectStore | None = None
    """The S3 bucket batch inference reads its input from and writes its output to."""
    sleep: Callable[[float], None] = time.sleep
    batch_poll_seconds: float = 30.0


@dataclass
class FillSummary:
    """What one run did."""

    run_id: str
    users: int = 0
    personalized: int = 0
    popular: int = 0
    stale: int = 0
    missing: int = 0
    """Users left without any feed (no previous feed and nothing showable)."""
    superseded: int = 0
    """Feeds (or stale marks) not written because the stored feed was as new or newer (another run or a refresh)."""
    mode: str = "realtime"
    solution_version_arn: str | None = None
    seconds: float = 0.0
    alerted: bool = False
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


# ---------------------------------------------------------------- filter


def filter_expression(config: RecommendSettings) -> str:
    """Exclude what the user already read and stories created before ``$MIN_CREATED``."""
    types = ",".join(f'"{t}"' for t in config.seen_event_types)
    return (
        f"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ({types})"
        f" | EXCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < ${AGE_PARAM}"
    )


def filter_name(base: str, expression: str) -> str:
    """Filters are immutable: a changed expression gets a new name (base + hash), never a stale filter."""
    digest = hashlib.sha256(expression.encode()).hexdigest()[:8]
    return f"{base[:54]}-{digest}"


def request_size(num_results: int) -> int:
    """Ask for twice the feed's length (at most 500): write-time checks may drop some of the answer."""
    return min(500, 2 * num_results)


def min_created(now: datetime, config: RecommendSettings) -> int:
    return int(now.timestamp()) - config.max_story_age_days * DAY


# ---------------------------------------------------------------- feed documents


def feed_document(
    stories: Sequence[tuple[Story, float | None]],
    *,
    kind: FeedKind,
    generated_at: datetime,
    run_id: str,
    campaign: CampaignInfo | None,
    recommendation_id: str | None,
    stale_reason: str | None = None,
) -> dict[str, Any]:
    """The ``feeds/{uid}`` document the homepage reads (docs/recommend.md).

    The stories go as one JSON string, best first: a few top-level values instead of ~200 nested ones,
    which is what a document costs to write and index (docs/BENCHMARKS.md, Feeds).
    """
    return {
        "itemsJson": _items_json(stories),
        "kind": kind,
        "recommendationId": recommendation_id,
        VERSION_FIELD: generated_at,
        "runId": run_id,
        "solutionVersionArn": campaign.solution_version_arn if campaign and kind == "personalized" else None,
        "stale": stale_reason is not None,
        "staleReason": stale_reason,
    }


def _items_json(stories: Sequence[tuple[Story, float | None]]) -> str:
    # each story is encoded once per run (Story.json_head/display_json); only its score differs per feed
    return "[" + ",".join(f"{s.json_head}{_score_json(score)},{s.display_json}}}" for s, score in stories) + "]"


def _score_json(score: float | None) -> str:
    if isinstance(score, float) and math.isfinite(score):
        return repr(score)  # what json.dumps writes for a finite float
    return json.dumps(score) if isinstance(score, int) else "null"


def feed_items(feed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stories of a stored feed, best first: ``{storyId, score, title, url, image, source}`` each.

    A feed written before ``itemsJson`` (an ``items`` array of maps) is read too, until a run rewrites it.
    """
    raw = feed.get("itemsJson")
    try:
        items = json.loads(raw) if isinstance(raw, str) else feed.get("items")
    except ValueError:
        items = None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def feed_story_ids(feed: Mapping[str, Any]) -> list[str]:
    """The story ids of a stored feed, best first (``storyIds`` of a feed written before ``itemsJson``)."""
    items = feed_items(feed)
    legacy = feed.get("storyIds")
    if not items and isinstance(legacy, list):
        return [str(i) for i in legacy]
    return [str(i.get("storyId")) for i in items]


def clean(ranked: Ranked, seen: set[str], catalogue: Catalogue, limit: int) -> list[tuple[Story, float | None]]:
    """Ranked items minus what the user read and what may not be shown, order kept."""
    out: list[tuple[Story, float | None]] = []
    chosen: set[str] = set()
    for item_id, score in zip(ranked.item_ids, ranked.scores, strict=False):
        if item_id in seen or item_id in chosen:
            continue
        story = catalogue.story(item_id)
        if story is not None:
            out.append((story, score))
            chosen.add(item_id)
            if len(out) == limit:
                break
    return out


def popular_for(seen: set[str], ranking: Sequence[Story], limit: int) -> list[tuple[Story, float | None]]:
    out: list[tuple[Story, float | None]] = [(s, None) for s in ranking if s.story_id not in seen]
    return out[:limit]


# ---------------------------------------------------------------- call discipline


class RateLimiter:
    """At most ``per_second`` acquisitions per second across threads (evenly spaced)."""

    def __init__(self, per_second: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self._interval
        if at > now:
            self._sleep(at - now)


class Breaker:
    """Opens after ``threshold`` consecutive failures, so an outage costs seconds, not hours."""

    def __init__(self, threshold: int) -> None:
        self._threshold = threshold
        self._failures = 0
        self._lock = threading.Lock()
        self.reason: str | None = None

    @property
    def open(self) -> bool:
        return self._failures >= self._threshold

    def record(self, error: RecommenderError | None) -> None:
        with self._lock:
            if error is None:
                self._failures = 0 if not self.open else self._failures
            else:
                self._failures += 1
                self.reason = str(error)


def with_retries(call: Callable[[], Ranked], config: RecommendSettings, sleep: Callable[[float], None]) -> Ranked:
    """Retry a retryable failure with exponential backoff and jitter; re-raise the last one."""
    for attempt in range(config.retries + 1):
        try:
            return call()
        except RecommenderError as exc:
            if not exc.retryable or attempt == config.retries:
                raise
            sleep(config.backoff_seconds * (2**attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- the window


def read_window(deps: FeedDeps, since: datetime) -> tuple[History, list[str]]:
    """Interactions since ``since`` and the users active in it (interactions or a profile change)."""
    cols, config = deps.collections, deps.config
    history = History()
    query = Query(cols.ml_interactions, (Where("TIMESTAMP", ">=", int(since.timestamp())),), ("TIMESTAMP",))
    for snap in deps.docs.stream(query):
        user, item, event = snap.data.get("USER_ID"), snap.data.get("ITEM_ID"), snap.data.get("EVENT_TYPE")
        if isinstance(user, str) and isinstance(item, str) and user and item:
            history.add(user, item, str(event), config.seen_event_types)
    users = dict.fromkeys(sorted(history.seen))
    inactive: set[str] = set()
    for snap in deps.docs.stream(Query(cols.ml_users, (Where("updated_at", ">=", since),), ("updated_at",))):
        if snap.data.get("active") is False:
            inactive.add(snap.id)
        else:
            users.setdefault(snap.id)
    return history, [u for u in users if u not in inactive]


def has_history(deps: FeedDeps, uid: str) -> bool:
    """Whether the user ever interacted (outside the window too)."""
    query = Query(deps.collections.ml_interactions, (Where("USER_ID", "==", uid),), limit=1)
    return bool(deps.docs.query(query))


# ---------------------------------------------------------------- the run


def write_feeds(docs: DocumentStore, writes: Sequence[NewerWrite]) -> list[str]:
    """The one way a feed is written: guarded on ``generatedAt`` (never over a newer feed; equal is a no-op)."""
    return list(docs.write_newer(writes, version_field=VERSION_FIELD))


class _Writer:
    """Writes feeds in guarded batches of 500 on background threads, so writing overlaps recommending.

    At most twice as many batches as threads wait at any time: a slow database slows the run down instead
    of filling memory.
    """

    def __init__(self, docs: DocumentStore, threads: int = WRITER_THREADS) -> None:
        self._docs = docs
        self._threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="feed-writer")
        self._pending: list[NewerWrite] = []
        self._futures: list[Future[list[str]]] = []
        self.written = 0
        self.kept = 0
        """Feeds not written because the stored one was as new or newer."""

    def add(self, write: NewerWrite | None) -> None:
        if write is None:
            return
        self._pending.append(write)
        if len(self._pending) >= WRITE_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._futures.append(self._pool.submit(write_feeds, self._docs, self._pending))
            self._pending = []
        while len(self._futures) > 2 * self._threads:
            self._count(self._futures.pop(0).result())

    def _count(self, outcomes: list[str]) -> None:
        written = outcomes.count("written")
        self.written += written
        self.kept += len(outcomes) - written

    def close(self) -> int:
        try:
            self.flush()
            while self._futures:
                self._count(self._futures.pop(0).result())
        finally:
            self._pool.shutdown()
        return self.written


@dataclass
class _Run:
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

    def personalized(self, uid: str, ranked: Ranked) -> NewerWrite | None:
        limit = self.deps.personalize.num_results
        seen = self.history.seen.get(uid, set())
        stories = clean(ranked, seen, self.catalogue, limit)
        kind: FeedKind = "personalized"
        if not stories:  # everything recommended was read, deleted or too old: never an empty feed
            stories, kind = popular_for(seen, self.ranking, limit), "popular"
        return self._write(uid, stories, kind, ranked.recommendation_id)

    def cold(self, uid: str) -> NewerWrite | None:
        stories = popular_for(self.history.seen.get(uid, set()), self.ranking, self.deps.personalize.num_results)
        return self._write(uid, stories, "popular", None)

    def _write(
        self, uid: str, stories: list[tuple[Story, float | None]], kind: FeedKind, rid: str | None
    ) -> NewerWrite | None:
        with self.lock:  # feeds are built on the worker threads
            if not stories:  # nothing showable at all: leave whatever the user has rather than blank it
                self.summary.missing += 1
                return None
            if kind == "personalized":
                self.summary.personalized += 1
            else:
                self.summary.popular += 1
        doc = feed_document(
            stories,
            kind=kind,
            generated_at=self.now,
            run_id=self.summary.run_id,
            campaign=self.campaign,
            recommendation_id=rid,
        )
        return NewerWrite(f"{self.deps.collections.feeds}/{uid}", doc, self.now)


def run_id_for(at: datetime) -> str:
    """A deterministic run id from the (schedule) time, so a retried run names its batch job the same."""
    return at.strftime("%Y%m%dT%H%M%S")


def fill_feeds(deps: FeedDeps, *, run_id: str | None = None, users: Sequence[str] | None = None) -> FillSummary:
    """Fill the feed of every user active in the window; return the run's summary.

    ``users`` replaces the active users: each of them is sent to the campaign (none is treated as cold).
    """
    started = time.monotonic()
    now = deps.clock()
    summary = FillSummary(run_id or run_id_for(now))
    config = deps.config
    history, active = read_window(deps, now - timedelta(days=config.active_days))
    targets = list(users) if users is not None else active
    summary.users = len(targets)
    catalogue = Catalogue(deps.docs, deps.collections, min_created(now, config))
    catalogue.preload()
    ranking = popular(history, catalogue, deps.personalize.num_results * 2)
    save_ranking(deps, ranking, now)
    _log.info("feed fill started", extra={"run_id": summary.run_id, "users": len(targets)})

    campaign, filter_arn, setup_error = None, None, None
    try:
        campaign, filter_arn = prepare(deps)
        summary.solution_version_arn = campaign.solution_version_arn
    except RecommenderError as exc:  # Personalize is down before we start: every warm user keeps its feed
        setup_error = exc
    run = _Run(
        deps, summary, now, history, catalogue, ranking, campaign, filter_arn, {AGE_PARAM: str(catalogue.min_created)}
    )
    # explicit users (a backfill, a benchmark) all go to the campaign: it answers unknown users too
    warm = targets if users is not None else [u for u in targets if u in history.seen or has_history(deps, u)]
    warm_set = set(warm)
    writer = _Writer(deps.docs)
    try:
        for uid in targets:
            if uid not in warm_set:
                writer.add(run.cold(uid))
        if setup_error is not None:
            run.failures.update(dict.fromkeys(warm, str(setup_error)))
        elif len(warm) > config.batch_threshold and deps.batch_store is not None:
            summary.mode = "batch"
            _fill_batch(run, warm, writer)
        else:
            _fill_realtime(run, warm, writer)
    finally:
        writer.close()
    summary.superseded += writer.kept
    _keep_previous(run)
    summary.seconds = round(time.monotonic() - started, 3)
    _finish(deps, summary, run.failures)
    return summary


def prepare(deps: FeedDeps) -> tuple[CampaignInfo, str]:
    """The campaign (with its serving solution version) and the feed filter, created once."""
    campaign = deps.recommender.campaign(deps.personalize.campaign)
    expression = filter_expression(deps.config)
    base = deps.personalize.filter
    name = base if base.startswith("arn:") else filter_name(base, expression)
    return campaign, deps.recommender.ensure_filter(name, deps.personalize.dataset_group, expression)


def save_ranking(deps: FeedDeps, ranking: Sequence[Story], now: datetime) -> None:
    """Keep the popularity ranking so the new-user trigger gives a first feed without a window scan (guarded
    like a feed: an older run never replaces a newer run's ranking)."""
    if ranking:
        data = {"storyIds": [s.story_id for s in ranking], VERSION_FIELD: now}
        write_feeds(deps.docs, [NewerWrite(f"{deps.collections.state}/popular_feed", data, now)])


def _fill_realtime(run: _Run, users: Sequence[str], writer: _Writer) -> None:
    deps, config = run.deps, run.deps.config
    assert run.campaign is not None
    campaign_arn, n = run.campaign.campaign_arn, request_size(deps.personalize.num_results)
    limiter = RateLimiter(config.campaign_tps)
    breaker = Breaker(config.breaker_failures)

    def one(uid: str) -> tuple[str, NewerWrite | RecommenderError | None]:
        """Recommend and build the feed on the worker thread (its catalogue look-ups run in parallel)."""
        if breaker.open:
            return uid, RecommenderError(f"not called: {breaker.reason}", retryable=True, code="CircuitOpen")

        def call() -> Ranked:
            limiter.acquire()
            return deps.recommender.recommend(campaign_arn, uid, n, run.filter_arn, run.filter_values)

        try:
            ranked = with_retries(call, config, deps.sleep)
        except RecommenderError as exc:
            breaker.record(exc)
            return uid, exc
        breaker.record(None)
        return uid, run.personalized(uid, ranked)

    progress = _Progress(len(users), run.summary.run_id)
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="feed") as pool:
        for uid, result in _bounded_map(pool, one, users, config.concurrency * 4):
            if isinstance(result, RecommenderError):
                run.failures[uid] = str(result)
                run.summary.errors[result.code] = run.summary.errors.get(result.code, 0) + 1
            else:
                writer.add(result)
            progress.tick()


def _bounded_map(
    pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: Iterable[Any], window: int
) -> Iterator[Any]:
    """``pool.map`` with at most ``window`` calls in flight (memory stays flat for 100k users)."""
    pending: list[Future[Any]] = []
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


class _Progress:
    def __init__(self, total: int, run_id: str) -> None:
        self._total, self._done, self._run_id = total, 0, run_id
        self._step = max(1, total // 10)
        self._started = time.monotonic()

    def tick(self) -> None:
        self._done += 1
        if self._done % self._step == 0 or self._done == self._total:
            elapsed = time.monotonic() - self._started
            _log.info(
                "feed fill progress",
                extra={
                    "run_id": self._run_id,
                    "done": self._done,
                    "total": self._total,
                    "users_per_second": round(self._done / max(elapsed, 1e-9), 1),
                },
            )


_JOB_NAME = re.compile(r"[^a-zA-Z0-9\-_]")


def _fill_batch(run: _Run, users: Sequence[str], writer: _Writer) -> None:
    """One batch inference job over every user; its output goes through the same checks and writes."""
    deps, config = run.deps, run.deps.config
    store = deps.batch_store
    assert store is not None and run.campaign is not None
    base = f"{config.batch_prefix}{run.summary.run_id}/"
    lines = "\n".join(json.dumps({"userId": u, "filterValues": run.filter_values}) for u in users)
    store.put_bytes(f"{base}users.jsonl", lines.encode(), content_type="application/json")
    request = BatchRequest(
        job_name=_JOB_NAME.sub("-", f"storyrec-feeds-{run.summary.run_id}")[:63],
        solution_version_arn=run.campaign.solution_version_arn,
        input_uri=f"s3://{store.bucket}/{base}users.jsonl",
        output_uri=f"s3://{store.bucket}/{base}output/",
        num_results=request_size(deps.personalize.num_results),
        role_arn=config.batch_role_arn or deps.personalize.import_role_arn,
        filter_arn=run.filter_arn,
    )
    try:
        status, reason = _await_batch(deps, deps.recommender.start_batch(request))
    except RecommenderError as exc:
        status, reason = "CREATE FAILED", str(exc)
    if status != "ACTIVE":
        run.failures.update(dict.fromkeys(users, f"batch inference {status}: {reason}"))
        run.summary.errors["BatchInference"] = len(users)
        return
    answered: set[str] = set()
    parsed = (_parse_batch_line(line) for line in store.get_bytes(f"{base}output/users.jsonl.out").splitlines())

    def build(entry: tuple[str | None, Ranked | None, str | None]) -> tuple[str | None, NewerWrite | str | None]:
        uid, ranked, error = entry
        if uid is None or ranked is None:
            return uid, f"batch inference: {error}"
        return uid, run.personalized(uid, ranked)

    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="feed-batch") as pool:
        for uid, result in _bounded_map(pool, build, parsed, config.concurrency * 4):
            if uid is None:
                continue
            answered.add(uid)
            if isinstance(result, str):
                run.failures[uid] = result
            else:
                writer.add(result)
    for uid in users:
        if uid not in answered:
            run.failures[uid] = "batch inference: no output line"


def _await_batch(deps: FeedDeps, job_arn: str) -> tuple[str, str | None]:
    deadline = time.monotonic() + deps.config.batch_timeout_seconds
    while True:
        status, reason = deps.recommender.batch_status(job_arn)
        if status in ("ACTIVE", "CREATE FAILED") or time.monotonic() > deadline:
            return status, reason
        deps.sleep(deps.batch_poll_seconds)


def _parse_batch_line(line: bytes) -> tuple[str | None, Ranked | None, str | None]:
    try:
        record = json.loads(line)
        query = record.get("input")
        if isinstance(query, str):
            query = json.loads(query)
        uid = query.get("userId") if isinstance(query, dict) else None
    except (ValueError, AttributeError):
        return None, None, None
    if not isinstance(uid, str):
        return None, None, None
    output = record.get("output")
    if record.get("error") or not isinstance(output, dict):
        return uid, None, str(record.get("error"))
    return uid, ranked_from_batch_line(output), None


def _keep_previous(run: _Run) -> None:
    """Failed users keep their previous feed, marked stale; without one they get a stale popular feed.

    Both are guarded writes at the run's time: a feed some newer run or refresh wrote is neither marked
    stale nor replaced.
    """
    deps, summary = run.deps, run.summary
    n = deps.personalize.num_results
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
        fallbacks: list[NewerWrite] = []
        for uid, outcome in zip(uids, write_feeds(deps.docs, marks), strict=True):
            if outcome != "absent":
                summary.stale += outcome == "written"
                summary.superseded += outcome == "kept"
                continue
            stories = popular_for(run.history.seen.get(uid, set()), run.ranking, n)
            if not stories:
                summary.missing += 1
                continue
            doc = feed_document(
                stories,
                kind="popular",
                generated_at=run.now,
                run_id=summary.run_id,
                campaign=run.campaign,
                recommendation_id=None,
                stale_reason=run.failures[uid][:500],
            )
            fallbacks.append(NewerWrite(f"{deps.collections.feeds}/{uid}", doc, run.now))
        for outcome in write_feeds(deps.docs, fallbacks):
            summary.stale += outcome == "written"
            summary.superseded += outcome == "kept"


def _finish(deps: FeedDeps, summary: FillSummary, failures: Mapping[str, str]) -> None:
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
        except Exception:  # the alert is best effort; the summary and logs still tell
            _log.exception("alert failed")
    for name, value in (
        ("FeedsPersonalized", summary.personalized),
        ("FeedsPopular", summary.popular),
        ("FeedsStale", summary.stale),
        ("FeedsMissing", summary.missing),
    ):
        deps.metrics.put(name, float(value))
    deps.metrics.put("FeedFillSeconds", summary.seconds, unit="Seconds")
    try:
        deps.metrics.flush()
    except Exception:
        _log.exception("metrics flush failed")
    _log.info("feed fill finished", extra=summary.as_dict())


# ---------------------------------------------------------------- one user


@dataclass(frozen=True)
class RefreshResult:
    """What a one-user refresh wrote."""

    uid: str
    kind: str
    stale: bool
    items: int
    reason: str | None = None


def refresh_user(deps: FeedDeps, uid: str) -> RefreshResult:
    """Refresh one user's feed now (the callable); on failure the previous feed is kept, marked stale."""
    now = deps.clock()
    config = deps.config
    history = History()
    everything = deps.docs.query(Query(deps.collections.ml_interactions, (Where("USER_ID", "==", uid),)))
    for snap in everything:
        item, event = snap.data.get("ITEM_ID"), snap.data.get("EVENT_TYPE")
        if isinstance(item, str):
            history.add(uid, item, str(event), config.seen_event_types)
    catalogue = Catalogue(deps.docs, deps.collections, min_created(now, config))
    ranking = stored_ranking(deps, catalogue)
    summary = FillSummary(run_id=f"refresh-{run_id_for(now)}", users=1)
    run = _Run(deps, summary, now, history, catalogue, ranking, None, None, {AGE_PARAM: str(catalogue.min_created)})
    writer = _Writer(deps.docs)
    try:
        if not everything:
            writer.add(run.cold(uid))
        else:
            try:
                run.campaign, run.filter_arn = prepare(deps)
                ranked = with_retries(
                    lambda: deps.recommender.recommend(
                        run.campaign.campaign_arn if run.campaign else "",
                        uid,
                        request_size(deps.personalize.num_results),
                        run.filter_arn,
                        run.filter_values,
                    ),
                    config,
                    deps.sleep,
                )
                writer.add(run.personalized(uid, ranked))
            except RecommenderError as exc:
                _log.warning("feed refresh failed; the previous feed is kept", extra={"uid": uid, "reason": str(exc)})
                run.failures[uid] = str(exc)
    finally:
        writer.close()
    _keep_previous(run)
    deps.metrics.put("FeedRefreshed", dimensions={"Outcome": "stale" if run.failures else "fresh"})
    deps.metrics.flush()
    written = deps.docs.get(f"{deps.collections.feeds}/{uid}") or {}
    return RefreshResult(
        uid,
        str(written.get("kind")),
        bool(written.get("stale")),
        len(feed_items(written)),
        run.failures.get(uid),
    )


def stored_ranking(deps: FeedDeps, catalogue: Catalogue) -> list[Story]:
    """The ranking the last fill saved (re-checked against the catalogue), or the newest stories."""
    saved = deps.docs.get(f"{deps.collections.state}/popular_feed") or {}
    ids = saved.get("storyIds") if isinstance(saved.get("storyIds"), list) else []
    stories = [s for s in (catalogue.story(str(i)) for i in ids or []) if s is not None]
    limit = deps.personalize.num_results * 2
    if len(stories) < deps.personalize.num_results:
        chosen = {s.story_id for s in stories}
        stories += [s for s in catalogue.newest(limit) if s.story_id not in chosen]
    return stories[:limit]


def first_feed(deps: FeedDeps, uid: str, *, as_of: datetime | None = None) -> bool:
    """A new user's first feed (popular), as of ``as_of`` (the user's creation event; default now). True if
    written.

    Guarded like every feed write, at ``as_of``: a redelivered event (same time) is a no-op, and a feed a
    run or a refresh wrote after the user appeared is never replaced.
    """
    now = as_of or deps.clock()
    catalogue = Catalogue(deps.docs, deps.collections, min_created(deps.clock(), deps.config))
    stories = popular_for(set(), stored_ranking(deps, catalogue), deps.personalize.num_results)
    if not stories:
        _log.warning("no showable story for a first feed", extra={"uid": uid})
        return False
    doc = feed_document(
        stories,
        kind="popular",
        generated_at=now,
        run_id=f"first-{run_id_for(now)}",
        campaign=None,
        recommendation_id=None,
    )
    [outcome] = write_feeds(deps.docs, [NewerWrite(f"{deps.collections.feeds}/{uid}", doc, now)])
    deps.metrics.put("FeedFirst", dimensions={"Outcome": outcome})
    deps.metrics.flush()
    return outcome == "written"
