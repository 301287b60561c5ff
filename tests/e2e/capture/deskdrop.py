"""Deskdrop rows as the documents a Firebase news app would write (stories and client click events)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

EVENT_TYPES = {
    "VIEW": "open",
    "LIKE": "like",
    "BOOKMARK": "save",
    "COMMENT CREATED": "comment",
    "FOLLOW": "follow",
}
"""FOLLOW has no click type: the client writes it anyway and capture must quarantine it (unknown_type)."""


def load(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(articles, interactions); articles.csv uses backslash-escaped quotes."""
    articles = pd.read_csv(directory / "articles.csv", escapechar="\\", doublequote=False)
    interactions = pd.read_csv(directory / "users_interactions.csv")
    return articles, interactions


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def story_docs(articles: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    """``stories/{storyId}`` documents, one per article."""
    for row in articles.itertuples(index=False):
        yield (
            str(row.item_id),
            {
                "title": None,
                "lang": _text(row.lang),
                "category": _text(row.article_genre),
                "summary": _text(row.training_text),
                "publishedAt": datetime.fromtimestamp(int(row.creation_timestamp), UTC),
                "status": "published",
                "source": "deskdrop",
            },
        )


def device(user_agent: Any) -> str | None:
    """A coarse device class from a user agent (the raw string is full of commas)."""
    ua = _text(user_agent)
    if ua is None:
        return None
    if "Native Mobile App" in ua:
        return "android-app" if ua.startswith("Android") else "ios-app"
    if "Android" in ua:
        return "android"
    if "iPhone" in ua or "iPad" in ua:
        return "ios"
    return "desktop" if any(k in ua for k in ("Windows", "Macintosh", "Linux", "X11", "CrOS")) else "other"


def click_docs(interactions: pd.DataFrame, created_at: Any = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``clicks/{clickId}`` documents, one per row (id ``dd-<row number>``).

    ``created_at`` is what the client sends as ``createdAt``: the server-timestamp sentinel for live
    writes; None keeps the historical time (an import).
    """
    for n, row in enumerate(interactions.itertuples(index=False)):
        when = datetime.fromtimestamp(int(row.timestamp), UTC)
        yield (
            f"dd-{n}",
            {
                "userId": str(row.personId),
                "storyId": str(row.contentId),
                "type": EVENT_TYPES.get(str(row.eventType), str(row.eventType).lower()),
                "clientTime": when,
                "createdAt": when if created_at is None else created_at,
                "sessionId": str(row.sessionId),
                "device": device(row.userAgent),
            },
        )


def expected_valid(interactions: pd.DataFrame, articles: pd.DataFrame) -> int:
    """Rows that must become interactions: a known click type on a story that exists."""
    known = interactions["contentId"].isin(set(articles["item_id"]))
    typed = interactions["eventType"].map(EVENT_TYPES).isin(["open", "like", "save", "comment"])
    return int((known & typed).sum())
