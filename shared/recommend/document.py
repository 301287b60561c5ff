"""The ``feeds/{uid}`` document: what goes in it, how it is encoded, how it is read back (docs/recommend.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from shared.personalize.model import Recommendations
from shared.recommend.campaign import CampaignInfo
from shared.recommend.catalogue import Catalogue, Story

VERSION_FIELD = "generatedAt"
"""The field every feed write is guarded on: a feed is written only over an absent or older one."""
FeedKind = Literal["personalized", "popular"]
Scored = tuple[Story, float | None]


def feed_document(
    stories: Sequence[Scored],
    *,
    kind: FeedKind,
    generated_at: datetime,
    run_id: str,
    campaign: CampaignInfo | None,
    recommendation_id: str | None,
    stale_reason: str | None = None,
    arm: str = "champion",
    experiment_id: str | None = None,
    attribution_source: str | None = None,
    solution_version: str | None = None,
) -> dict[str, Any]:
    """The ``feeds/{uid}`` document the homepage reads (docs/recommend.md).

    ``solution_version``: the version that made a personalized feed when it is not the campaign's (the
    challenger arm's batch inference).

    The stories go as one JSON string, best first: a few top-level values instead of ~200 nested ones,
    which is what a document costs to write and index (docs/BENCHMARKS.md, Feeds).
    """
    return {
        "itemsJson": _items_json(stories),
        "kind": kind,
        "recommendationId": recommendation_id,
        "arm": arm,
        "experimentId": experiment_id,
        "attributionSource": attribution_source,
        VERSION_FIELD: generated_at,
        "runId": run_id,
        "solutionVersionArn": (solution_version or (campaign.solution_version_arn if campaign else None))
        if kind == "personalized"
        else None,
        "stale": stale_reason is not None,
        "staleReason": stale_reason,
    }


def _items_json(stories: Sequence[Scored]) -> str:
    # each story is encoded once per run (Story.json_head/json_tail); only its score differs per feed. A plain
    # finite float (x - x == 0; inf and nan give nan) is formatted inline: this runs 25 times per feed.
    return (
        "["
        + ",".join(
            [
                s.json_head + (repr(x) if type(x) is float and x - x == 0.0 else _score_json(x)) + s.json_tail
                for s, x in stories
            ]
        )
        + "]"
    )


def _score_json(score: float | None) -> str:
    if isinstance(score, float) and math.isfinite(score):
        return repr(float(score))  # what json.dumps writes for a finite float (a subclass's repr may not be JSON)
    return json.dumps(int(score)) if isinstance(score, int) and not isinstance(score, bool) else "null"


def feed_items(feed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stories of a stored feed, best first: ``{storyId, score, title, url, image, source}`` each."""
    raw = feed.get("itemsJson")
    try:
        items = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        items = None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def without_stories(feed: Mapping[str, Any], story_ids: Collection[str]) -> dict[str, Any] | None:
    """The feed document minus the stories ``story_ids``, order kept; None when nothing would be left."""
    items = [i for i in feed_items(feed) if str(i.get("storyId")) not in story_ids]
    if not items:
        return None
    return {**feed, "itemsJson": json.dumps(items, ensure_ascii=False, separators=(",", ":"))}


def feed_story_ids(feed: Mapping[str, Any]) -> list[str]:
    """The story ids of a stored feed, best first."""
    return [str(i.get("storyId")) for i in feed_items(feed)]


def clean(ranked: Recommendations, seen: set[str], catalogue: Catalogue, limit: int) -> list[Scored]:
    """Ranked items minus what the user read and what may not be shown, order kept."""
    out: list[Scored] = []
    chosen: set[str] = set()
    lookup = catalogue.story  # bound once: this loop runs up to 2 x NUM_RESULTS times per feed
    for item in ranked.items:
        item_id = item.item_id
        if item_id in seen or item_id in chosen:
            continue
        story = lookup(item_id)
        if story is not None:
            out.append((story, item.score))
            chosen.add(item_id)
            if len(out) == limit:
                break
    return out


def popular_for(seen: set[str], ranking: Sequence[Story], limit: int) -> list[Scored]:
    """The popular ranking minus what the user read, unscored."""
    out: list[Scored] = [(s, None) for s in ranking if s.story_id not in seen]
    return out[:limit]
