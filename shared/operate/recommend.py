"""``storyrec recommend --user UID``: what the campaign recommends to one user now, beside what they read.

Read-only: GetRecommendations through the campaign and the feed's own filter (the same
``prepare``/filter values a feed fill uses, so the answer is what the next fill would show), titles
joined from the catalogue. ``storyrec feeds refresh`` writes; this never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.ports import Query, Where
from shared.recommend.campaign import AGE_PARAM, min_created, prepare
from shared.recommend.catalogue import Catalogue, History
from shared.recommend.deps import FeedDeps

RECENT_READS = 10


@dataclass(frozen=True)
class Line:
    story_id: str
    title: str | None
    detail: str = ""
    """The event type and time for a read; the score for a recommendation."""


@dataclass(frozen=True)
class UserRecommendations:
    uid: str
    campaign_arn: str
    solution_version_arn: str
    recent: list[Line] = field(default_factory=list)
    recommended: list[Line] = field(default_factory=list)
    recommendation_id: str | None = None
    known: bool = True
    """False when the user has no ``ml_users`` document and no interaction: Personalize answers a stranger
    with what is popular, so the list says nothing about this user."""


def _title(deps: FeedDeps, story_id: str) -> str | None:
    cols = deps.collections
    for path in (f"{cols.stories}/{story_id}", f"{cols.ml_items}/{story_id}"):
        doc = deps.docs.get(path) or {}
        title = doc.get("title") or doc.get("TITLE")
        if isinstance(title, str):
            return title
    return None


def when(timestamp: object) -> str:
    """A Unix-seconds TIMESTAMP as ``2026-12-05 14:03 UTC`` ('?' when it is not a number)."""
    try:
        return f"{datetime.fromtimestamp(int(str(timestamp)), UTC):%Y-%m-%d %H:%M} UTC"
    except (ValueError, OverflowError, OSError):
        return "?"


def recommend_for(deps: FeedDeps, uid: str, num_results: int | None = None) -> UserRecommendations:
    """GetRecommendations for ``uid`` with the feed's filter; the user's newest reads beside it.

    A recommended story the feed would drop at write time is marked so: inactive, too old or unknown, or already
    read (Personalize's filter sees only a reader's newest events; the fill drops every read story).
    """
    now = deps.clock()
    catalogue = Catalogue(deps.docs, deps.collections, min_created(now, deps.config))
    campaign, filter_arn = prepare(deps)
    n = num_results or deps.personalize.num_results
    ranked = deps.recommender.get_recommendations(
        campaign.campaign_arn, uid, min(500, n), filter_arn, {AGE_PARAM: str(catalogue.min_created)}
    )
    reads = deps.docs.query(Query(deps.collections.ml_interactions, (Where("USER_ID", "==", uid),)))
    history = History()
    for snap in reads:
        history.mark_seen(
            uid, str(snap.data.get("ITEM_ID", "")), str(snap.data.get("EVENT_TYPE")), deps.config.seen_event_types
        )
    seen = history.seen.get(uid, set())
    recommended = []
    for item in ranked:
        score = f"{item.score:.4f}" if item.score is not None else ""
        if item.item_id in seen:
            score += " (already read: dropped)"
        elif catalogue.story(item.item_id) is None:
            score += " (not showable: dropped)"
        recommended.append(Line(item.item_id, _title(deps, item.item_id), score.strip()))
    newest = sorted(reads, key=lambda s: int(s.data.get("TIMESTAMP") or 0), reverse=True)[:RECENT_READS]
    recent = [
        Line(
            str(s.data.get("ITEM_ID", "")),
            _title(deps, str(s.data.get("ITEM_ID", ""))),
            f"{s.data.get('EVENT_TYPE')} at {when(s.data.get('TIMESTAMP'))}",
        )
        for s in newest
    ]
    known = bool(reads) or deps.docs.get(f"{deps.collections.ml_users}/{uid}") is not None
    return UserRecommendations(
        uid, campaign.campaign_arn, campaign.solution_version_arn, recent, recommended, ranked.recommendation_id, known
    )
