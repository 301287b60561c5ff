"""What the demo writes: real Deskdrop data when it is there, generated traffic otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from infra.local.stack import REPO_ROOT
from infra.local.traffic import TrafficConfig, build_catalogue, click_documents, story_documents, user_documents

DESKDROP_DIR = REPO_ROOT.parent / "shared" / "data" / "deskdrop"
DESKDROP_TYPES = {"VIEW": "open", "LIKE": "like", "BOOKMARK": "save", "COMMENT CREATED": "comment", "FOLLOW": "follow"}
"""Deskdrop's FOLLOW is sent as ``follow``: a click type storyrec does not have, which the rules refuse."""


@dataclass(frozen=True)
class Click:
    """One click as the client would send it; ``at`` orders the replay (the server stamps the time)."""

    user: str
    story: str
    type: str
    at: int
    session: str
    device: str | None = None
    value: float | None = None


@dataclass
class DemoData:
    """Stories (written by the app's backend), user profiles (written by each user) and clicks.

    ``as_of``: the present the data was made for (generated traffic: the end of its period, hour-aligned, so
    the same within the hour); its stories are published relative to the replay (:meth:`stories_for_replay`).
    None for a historical dataset, whose stories keep their dates.
    """

    source: str
    stories: dict[str, dict[str, Any]]
    profiles: dict[str, dict[str, Any]]
    clicks: list[Click]
    as_of: datetime | None = None

    def titles(self) -> dict[str, str]:
        return {sid: str(doc.get("title") or sid) for sid, doc in self.stories.items()}

    def stories_for_replay(self, origin: datetime) -> dict[str, dict[str, Any]]:
        """The stories as the backend publishes them for a replay that starts at ``origin``.

        The server stamps each click with the time it is replayed, and the engine ages stories (freshness)
        at the newest click: a story must be as old at the replay as it was at ``as_of``, or two runs minutes
        apart would see it minutes older and rank it differently. So ``publishedAt`` moves by
        ``origin - as_of``. Historical data (``as_of`` None: Deskdrop's 2016-2017 stories, too old to be
        fresh on any run) is published as it is.
        """
        if self.as_of is None:
            return self.stories
        shift = origin - self.as_of
        moved = {sid: doc["publishedAt"] + shift for sid, doc in self.stories.items() if "publishedAt" in doc}
        return {sid: {**doc, "publishedAt": moved[sid]} if sid in moved else doc for sid, doc in self.stories.items()}


def _title(text: Any, words: int = 9) -> str:
    """Deskdrop's items have no title; its summaries open with one, so the first words stand in."""
    parts = str(text or "").split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def _device(user_agent: Any) -> str | None:
    ua = str(user_agent) if isinstance(user_agent, str) else ""
    if not ua:
        return None
    if "Native Mobile App" in ua:
        return "android-app" if ua.startswith("Android") else "ios-app"
    if "Android" in ua:
        return "android"
    return "ios" if "iPhone" in ua or "iPad" in ua else "desktop"


def deskdrop_data(directory: Path, users: int = 100, per_user: int = 30) -> DemoData:
    """The ``users`` most active Deskdrop readers and their ``per_user`` latest events, with the stories they touched.

    Stories missing from articles.csv stay missing (their clicks are quarantined as unknown_story), and
    FOLLOW events are sent as they come (the rules refuse them).
    """
    articles = pd.read_csv(directory / "articles.csv", escapechar="\\", doublequote=False)
    events = pd.read_csv(directory / "users_interactions.csv").sort_values("timestamp", kind="stable")
    active = events["personId"].value_counts().head(users).index
    chosen = events[events["personId"].isin(active)].groupby("personId", sort=False).tail(per_user)
    touched = articles[articles["item_id"].isin(set(chosen["contentId"]))]
    stories = {
        str(row.item_id): {
            "title": _title(row.training_text),
            "summary": str(row.training_text)[:400],
            "category": str(row.article_genre),
            "lang": str(row.lang),
            "publishedAt": datetime.fromtimestamp(int(row.creation_timestamp), UTC),
            "status": "published",
            "source": "deskdrop",
        }
        for row in touched.itertuples(index=False)
    }
    countries = chosen.groupby("personId")["userCountry"].first()
    profiles = {
        str(uid): {"lang": "en", **({"country": str(c)} if isinstance(c, str) and len(c) == 2 else {})}
        for uid, c in countries.items()
    }
    clicks = [
        Click(
            str(row.personId),
            str(row.contentId),
            DESKDROP_TYPES.get(str(row.eventType), str(row.eventType).lower()),
            int(row.timestamp),
            str(row.sessionId),
            _device(row.userAgent),
        )
        for row in chosen.itertuples(index=False)
    ]
    return DemoData("Deskdrop", stories, profiles, clicks)


PER_USER = 30
"""Clicks replayed per reader at most (each reader's latest), as for the Deskdrop subset: the replay compresses
days into a minute or two, and capture quarantines a user's clicks past 60 in one minute (rate_limited), which
ones depending on the replay's speed; a reader with 30 clicks stays clear of it on every run."""


def generated_data(now: datetime, users: int = 220, stories: int = 400, interactions: int = 4_500) -> DemoData:
    """Generated news traffic (infra/local/traffic) of the same size as the Deskdrop subset (each reader's
    latest :data:`PER_USER` clicks)."""
    config = TrafficConfig.ending_before(now, days=7, users=users, stories=stories, interactions=interactions)
    catalogue = build_catalogue(config)
    story_docs = {w.path.split("/", 1)[1]: dict(w.data or {}) for w in story_documents(config, catalogue)}
    profiles = {
        w.path.split("/", 1)[1]: {k: v for k, v in (w.data or {}).items() if k in ("lang", "country")}
        for w in user_documents(catalogue)
    }
    clicks = []
    for w in click_documents(config, catalogue):
        d = w.data or {}
        at = int(d["createdAt"].timestamp())
        clicks.append(Click(d["userId"], d["storyId"], d["type"], at, d["sessionId"], d.get("device"), d.get("value")))
    latest: dict[str, list[Click]] = {}
    for click in sorted(clicks, key=lambda c: -c.at):
        if len(mine := latest.setdefault(click.user, [])) < PER_USER:
            mine.append(click)
    kept = sorted((c for mine in latest.values() for c in mine), key=lambda c: c.at)
    readers = {uid: profile for uid, profile in profiles.items() if uid in latest}  # the users who clicked
    as_of = datetime.fromtimestamp(config.end_ts, UTC)
    return DemoData("generated traffic", story_docs, readers, kept, as_of=as_of)


def demo_data(now: datetime, deskdrop: Path | None = DESKDROP_DIR) -> DemoData:
    """Deskdrop when it is there, generated traffic otherwise (the product never needs the dataset)."""
    if deskdrop is not None and (deskdrop / "users_interactions.csv").exists():
        return deskdrop_data(deskdrop)
    return generated_data(now)
