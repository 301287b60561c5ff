"""The feed step: the scheduled feed fill, invoked as Cloud Scheduler does, and one reader's new feed."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from infra.local.demo.context import DemoContext
from infra.local.demo.data import DemoData
from infra.local.stack import LOCAL_PROJECT
from shared.recommend.document import feed_items

FEED_FILL_FUNCTION = "fill_feeds_daily"
"""The scheduled feed fill in functions_gcp/recommend.py."""


def scheduler_tick(functions_url: str, function: str, at: datetime, region: str = "us-central1") -> int:
    """POST to a scheduled function as Cloud Scheduler's job does (its headers name the job and the time).

    firebase-tools serves a scheduled function at ``/<project>/<region>/<name>-0`` (its trigger key);
    the plain name is tried next. Returns the HTTP status.
    """
    headers = {
        "X-CloudScheduler-JobName": f"firebase-schedule-{function}-{region}",
        "X-CloudScheduler-ScheduleTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "User-Agent": "Google-Cloud-Scheduler",
        "Content-Type": "application/json",
    }
    status = 0
    for name in (f"{function}-0", function):
        request = urllib.request.Request(
            f"{functions_url}/{LOCAL_PROJECT}/{region}/{name}", data=b"{}", headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as response:  # loopback emulator only
                return int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            if exc.code != 404:
                raise RuntimeError(f"{function}: HTTP {exc.code}: {exc.read()[:500]!r}") from exc
    raise RuntimeError(f"{function}: not served by the Functions emulator (HTTP {status})")


def step_feeds(ctx: DemoContext) -> str:
    """The daily feed fill, invoked the way its Cloud Scheduler job invokes it (an authenticated POST)."""
    s = ctx.settings
    feeds = ctx.firestore().collection(s.collections.feeds)
    started = datetime.now(UTC)
    status = scheduler_tick(ctx.functions_url, FEED_FILL_FUNCTION, started)
    written = int(feeds.where(filter=FieldFilter("generatedAt", ">=", started)).count().get()[0][0].value)
    if written == 0:
        raise RuntimeError(f"{FEED_FILL_FUNCTION} answered {status} but wrote no feed")
    docs = {d.id: d.to_dict() or {} for d in feeds.stream()}
    kinds = Counter(str(doc.get("kind")) for doc in docs.values())
    ctx.facts.update(feeds=len(docs), feeds_written=written, feed_kinds=dict(kinds))
    ctx.facts["feed_lists"] = {
        uid: [str(i.get("storyId")) for i in feed_items(doc)] for uid, doc in sorted(docs.items())
    }
    ctx.facts["showcase"] = showcase(ctx.data, docs)
    return f"Cloud Scheduler's POST → {FEED_FILL_FUNCTION} wrote {written} feeds {dict(sorted(kinds.items()))}"


def showcase(data: DemoData, feeds: Mapping[str, Mapping[str, Any]], size: int = 6) -> dict[str, Any] | None:
    """The most active reader with a personalized feed: their latest reads beside their new feed, by title."""
    titles = data.titles()
    clicks = Counter(c.user for c in data.clicks if c.story in titles)
    chosen = next((u for u, _ in clicks.most_common() if feeds.get(u, {}).get("kind") == "personalized"), None)
    if chosen is None:
        return None
    reads: list[str] = []
    for click in sorted((c for c in data.clicks if c.user == chosen and c.story in titles), key=lambda c: -c.at):
        if titles[click.story] not in reads:
            reads.append(titles[click.story])
    items = feed_items(feeds[chosen])
    feed = [str(i.get("title") or titles.get(str(i.get("storyId")), i.get("storyId"))) for i in items]
    return {"user": chosen, "reads": reads[:size], "feed": feed[:size]}
