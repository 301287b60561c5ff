"""Feed fill: every active user's ``feeds/{uid}`` from the campaign, never empty, never silently stale.

Order of a run: the filter (describe-or-create), the campaign's serving version, the window of recent
interactions (active users, what each has read, what is popular), then per user GetRecommendations
under a rate limit (:mod:`~shared.recommend.realtime`; or one batch inference job past a threshold,
:mod:`~shared.recommend.batch`), checks against the catalogue read at the start, version-guarded writes in
batches of 500 on writer threads, each batch's stories re-read just before it is written
(:mod:`~shared.recommend.writer`; a feed never replaces a newer one, nor shows a story deleted since);
users the recommender failed keep their previous feed marked stale, and one alert tells the operators
how many (:mod:`~shared.recommend.run`). Before the first promotion no campaign exists: an expected state,
so every reader gets the popular feed (not stale) and the run logs it and counts it (``FeedFillNoCampaign``)
without an alert. Also here: one user's refresh and a new user's first feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.errors import StoryrecError
from shared.logs import get_logger
from shared.ports import NewerWrite, Query, Where
from shared.recommend.arms import fill_challenger, fill_control, save_experiment, split, stored_experiment
from shared.recommend.batch import fill_batch
from shared.recommend.calls import with_retries
from shared.recommend.campaign import AGE_PARAM, NoCampaign, min_created, prepare, request_size
from shared.recommend.catalogue import Catalogue, History, Loading, Story, popular
from shared.recommend.deps import FeedDeps, FillSummary
from shared.recommend.document import VERSION_FIELD, feed_document, feed_items, popular_for
from shared.recommend.readers import ReaderIndex
from shared.recommend.realtime import fill_realtime
from shared.recommend.run import (
    FeedRun,
    add_whole_history,
    attribution_source,
    finish,
    keep_previous,
    read_window,
)
from shared.recommend.writer import FeedWriter, write_feeds

_log = get_logger("recommend")


def run_id_for(at: datetime) -> str:
    """A deterministic run id from the (schedule) time, so a retried run names its batch job the same."""
    return at.strftime("%Y%m%dT%H%M%S")


def fill_feeds(deps: FeedDeps, *, run_id: str | None = None, users: Sequence[str] | None = None) -> FillSummary:
    """Fill the feed of every user active in the window; return the run's summary.

    ``users`` replaces the active users: each of them is sent to the campaign (none is treated as cold).
    """
    started = deps.monotonic()
    now = deps.clock()
    summary = FillSummary(run_id or run_id_for(now))
    config = deps.config
    history, active = read_window(deps, now - timedelta(days=config.active_days), now)
    targets = list(users) if users is not None else active
    summary.users = len(targets)
    catalogue = Catalogue(deps.docs, deps.collections, min_created(now, config))
    loading = Loading(lambda: load_catalogue(deps, history, catalogue, now))
    _log.info("feed fill started", extra={"run_id": summary.run_id, "users": len(targets)})

    campaign, filter_arn, setup_error = None, None, None
    try:
        campaign, filter_arn = prepare(deps)
        summary.solution_version_arn = campaign.solution_version_arn
    except NoCampaign:  # expected before the first promotion: everyone gets the popular feed, nobody is paged
        summary.no_campaign = True
        _log.info("no campaign serves yet: every reader gets the popular feed", extra={"run_id": summary.run_id})
    except StoryrecError as exc:  # Personalize is down before we start: every warm user keeps its feed
        setup_error = exc
    run = FeedRun(
        deps, summary, now, history, catalogue, [], campaign, filter_arn, {AGE_PARAM: str(catalogue.min_created)}
    )
    run.readers = ReaderIndex.for_run(deps.docs, deps.collections, now)
    if campaign is not None and deps.experiment is not None:
        run.experiment = deps.experiment(campaign.solution_version_arn)
        summary.experiment_id = run.experiment.experiment_id
        save_experiment(deps, run.experiment, now)
    # explicit users (a backfill, a benchmark) all go to the campaign: it answers unknown users too
    if users is None:  # readers without an interaction in the window: warm if they ever had one
        outside = [u for u in targets if u not in history.seen]
        run.readers.load(outside)
        before = run.readers.fallbacks
        known = {u for u in outside if run.readers.has_history(u)}
        summary.history_queries += run.readers.fallbacks - before
        warm = [u for u in targets if u in history.seen or u in known]
    else:
        warm = targets
    warm_set = set(warm)
    # the arms first: the control and challenger readers' feeds never come from the campaign
    warm, challenger, control = split(run, warm)
    batch = len(warm) > config.batch_threshold and deps.batch_store is not None
    writer = FeedWriter(deps.docs, recheck=catalogue.recheck)
    try:
        if campaign is not None and not batch:
            fill_realtime(run, warm, writer, loading)  # builds no feed before the catalogue is loaded
        run.ranking = loading.result()
        if summary.no_campaign:  # popular feeds without anything ever read, as the campaign's filter would
            add_whole_history(run, warm)
        for uid in targets:
            if uid not in warm_set or summary.no_campaign:
                writer.add(run.cold(uid))
        fill_control(run, control, writer)
        if setup_error is None:
            fill_challenger(run, challenger, writer)
        if setup_error is not None:
            run.failures.update(dict.fromkeys(warm, str(setup_error)))
        elif batch and campaign is not None:
            summary.mode = "batch"
            fill_batch(run, warm, writer)
    finally:
        writer.close()
    summary.superseded += writer.kept
    summary.withdrawn += writer.withdrawn
    summary.missing += writer.emptied
    keep_previous(run)
    summary.seconds = round(deps.monotonic() - started, 3)
    finish(deps, summary, run.failures)
    return summary


def load_catalogue(deps: FeedDeps, history: History, catalogue: Catalogue, now: datetime) -> list[Story]:
    """Read the catalogue once for the run and rank the popular stories (saved for the new-user trigger)."""
    catalogue.preload()
    ranking = popular(history, catalogue, deps.personalize.num_results * 2)
    save_ranking(deps, ranking, now)
    return ranking


def save_ranking(deps: FeedDeps, ranking: Sequence[Story], now: datetime) -> None:
    """Keep the popularity ranking so the new-user trigger gives a first feed without a window scan (guarded
    like a feed: an older run never replaces a newer run's ranking)."""
    if ranking:
        data = {"storyIds": [s.story_id for s in ranking], VERSION_FIELD: now}
        write_feeds(deps.docs, [NewerWrite(f"{deps.collections.state}/popular_feed", data, now)])


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
    run = FeedRun(deps, summary, now, history, catalogue, ranking, None, None, {AGE_PARAM: str(catalogue.min_created)})
    writer = FeedWriter(deps.docs, recheck=catalogue.recheck)
    try:
        if not everything:
            writer.add(run.cold(uid))
        else:
            try:
                run.campaign, run.filter_arn = prepare(deps)
                run.experiment = stored_experiment(deps, run.campaign.solution_version_arn)
                arm = run.experiment.arm(uid)
                if arm == "control":  # held out: the popularity feed
                    writer.add(run.cold(uid))
                elif arm == "champion":  # the challenger's feeds come from the daily batch only: kept as is
                    campaign_arn = run.campaign.campaign_arn
                    n = request_size(deps.personalize.num_results)
                    ranked = with_retries(
                        lambda: deps.recommender.get_recommendations(
                            campaign_arn, uid, n, run.filter_arn, run.filter_values
                        ),
                        config,
                        deps.sleep,
                    )
                    writer.add(run.personalized(uid, ranked))
            except NoCampaign:  # nothing serves yet: the popular feed (its history is already whole), not stale
                writer.add(run.cold(uid))
            except StoryrecError as exc:
                _log.warning("feed refresh failed; the previous feed is kept", extra={"uid": uid, "reason": str(exc)})
                run.failures[uid] = str(exc)
    finally:
        writer.close()
    keep_previous(run)
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
    test = stored_experiment(deps, None)
    arm = test.arm(uid)
    doc = feed_document(
        stories,
        kind="popular",
        generated_at=now,
        run_id=f"first-{run_id_for(now)}",
        campaign=None,
        recommendation_id=None,
        arm=arm,
        experiment_id=test.experiment_id,
        attribution_source=attribution_source(arm, "popular", None),
    )
    [outcome] = write_feeds(deps.docs, [NewerWrite(f"{deps.collections.feeds}/{uid}", doc, now)])
    deps.metrics.put("FeedFirst", dimensions={"Outcome": outcome})
    deps.metrics.flush()
    return outcome == "written"
