"""What may appear in a feed: live, recent stories, with the fields the homepage shows.

Checked against ``ml_items`` (active, creation time) and ``stories`` (exists, published) when the run
reads the catalogue, not only by the Personalize filter (which sees the last training snapshot); and
:meth:`Catalogue.recheck` reads ``stories`` again just before each batch of feeds is written.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from shared.capture.records import is_published
from shared.config import Collections
from shared.ports import DocumentStore, Query, Where

DISPLAY_FIELDS = ("title", "url", "image", "source")
ITEM_FIELDS = ("CREATION_TIMESTAMP", "active", "TITLE", "SOURCE")
"""What the catalogue reads of an ``ml_items`` document (a field mask: never SUMMARY, TAGS and the rest)."""
PUBLISHED_FIELDS = ("status",)
"""What ``is_published`` reads of a ``stories`` document: all the write-time re-check reads of it."""
STORY_FIELDS = (*DISPLAY_FIELDS, *PUBLISHED_FIELDS)
"""What the catalogue reads of a ``stories`` document: the display fields and what ``is_published`` reads
(never the body, summary or tags of the app's story). tests/unit/recommend/test_catalogue.py checks that a
catalogue read through these masks decides as one read from whole documents."""
_MISSING = object()


@dataclass(frozen=True)
class Story:
    """A story that may be shown, with its display fields."""

    story_id: str
    created: int
    display: Mapping[str, Any]

    @cached_property
    def json_head(self) -> str:
        """The start of this story's feed item: ``{"storyId":<id>,"score":`` (see document._items_json)."""
        return '{"storyId":' + json.dumps(self.story_id, ensure_ascii=False) + ',"score":'

    @cached_property
    def json_tail(self) -> str:
        """The rest of its feed item after the score: the display fields and the closing brace (encoded once per
        story per run)."""
        members = json.dumps(dict(self.display), ensure_ascii=False, separators=(",", ":"))[1:-1]
        return ("," + members if members else "") + "}"


class Catalogue:
    """Looks stories up once per run (thread-safe cache) and says whether each may be shown."""

    def __init__(self, docs: DocumentStore, collections: Collections, min_created: int) -> None:
        self._docs = docs
        self._collections = collections
        self.min_created = min_created
        self._cache: dict[str, Story | None] = {}
        self._lock = threading.Lock()
        self._preloaded = False

    def story(self, story_id: str) -> Story | None:
        """The story if it is active, published and recent enough; else None."""
        cached = self._cache.get(story_id, _MISSING)  # a dict read is atomic: no lock on the hot path
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        found = self._load(story_id)
        with self._lock:
            self._cache[story_id] = found
        return found

    def preload(self) -> int:
        """Load every story recent enough to be shown, in bulk (a run's display join, read once up front
        instead of two reads per story on the workers' first sight of it). Returns how many may be shown."""
        items = {s.id: s.data for s in self._docs.stream(self._recent()) if s.data.get("active") is True}
        ids = [i for i in items if i and "/" not in i]
        stories = self._docs.get_many([f"{self._collections.stories}/{i}" for i in ids], fields=STORY_FIELDS)
        loaded = {i: self._story(i, items[i], story) for i, story in zip(ids, stories, strict=True)}
        with self._lock:
            self._cache.update(loaded)
            self._preloaded = True
        return sum(1 for s in loaded.values() if s is not None)

    def recheck(self, story_ids: Collection[str]) -> set[str]:
        """Of ``story_ids``, those deleted or unpublished by now (one bulk read of ``stories``); the run
        shows none of them from then on."""
        ids = sorted(story_ids)
        found = self._docs.get_many([f"{self._collections.stories}/{i}" for i in ids], fields=PUBLISHED_FIELDS)
        gone = {i for i, story in zip(ids, found, strict=True) if story is None or not is_published(story)}
        if gone:
            with self._lock:
                self._cache.update(dict.fromkeys(gone))
        return gone

    def _load(self, story_id: str) -> Story | None:
        if not story_id or "/" in story_id:
            return None
        (item,) = self._docs.get_many([f"{self._collections.ml_items}/{story_id}"], fields=ITEM_FIELDS)
        if not item or item.get("active") is not True:
            return None
        (story,) = self._docs.get_many([f"{self._collections.stories}/{story_id}"], fields=STORY_FIELDS)
        return self._story(story_id, item, story)

    def _recent(self) -> Query:
        """The ``ml_items`` created within the age limit, oldest first, with the fields the catalogue reads."""
        return Query(
            self._collections.ml_items,
            (Where("CREATION_TIMESTAMP", ">=", self.min_created),),
            ("CREATION_TIMESTAMP",),
            fields=ITEM_FIELDS,
        )

    def _story(self, story_id: str, item: Mapping[str, Any], story: Mapping[str, Any] | None) -> Story | None:
        created = item.get("CREATION_TIMESTAMP")
        if not isinstance(created, int) or created < self.min_created:
            return None
        if story is None or not is_published(story):
            return None
        display = {name: _text(story.get(name)) for name in DISPLAY_FIELDS}
        if display["title"] is None:
            display["title"] = _text(item.get("TITLE"))
        if display["source"] is None:
            display["source"] = _text(item.get("SOURCE"))
        return Story(story_id, created, display)

    def newest(self, limit: int) -> list[Story]:
        """Up to ``limit`` showable stories, newest first (the fallback when nothing was read lately)."""
        if self._preloaded:  # every showable recent story is in the cache: no second read of ml_items
            with self._lock:
                shown = [s for s in self._cache.values() if s is not None]
            shown.sort(key=lambda s: (-s.created, s.story_id))
            return shown[:limit]
        candidates = [s for s in self._docs.stream(self._recent()) if s.data.get("active") is True]
        candidates.sort(key=lambda s: (-int(s.data.get("CREATION_TIMESTAMP") or 0), s.id))
        out: list[Story] = []
        for snap in candidates:
            story = self.story(snap.id)
            if story is not None:
                out.append(story)
                if len(out) == limit:
                    break
        return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


@dataclass
class History:
    """What active users did in the window: items each one touched, and how often each item was read."""

    seen: dict[str, set[str]] = field(default_factory=dict)
    """user id → items with an interaction of a 'seen' event type."""
    counts: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    """item id → interactions in the window, each weighted by its recency (the popularity ranking)."""

    def add(self, user_id: str, item_id: str, event_type: str, seen_types: Iterable[str], weight: float = 1.0) -> None:
        self.counts[item_id] += weight
        self.mark_seen(user_id, item_id, event_type, seen_types)

    def mark_seen(self, user_id: str, item_id: str, event_type: str, seen_types: Iterable[str]) -> None:
        """Note an interaction that does not count towards the window's popularity (one before the window)."""
        self.seen.setdefault(user_id, set())
        types = set(seen_types)
        if "*" in types or event_type in types:
            self.seen[user_id].add(item_id)


class Loading:
    """A step run on a thread of its own (the catalogue read and the ranking), so it overlaps the first
    GetRecommendations calls instead of delaying them: the fixed cost of a run weighs on small runs."""

    def __init__(self, step: Callable[[], list[Story]]) -> None:
        self._step = step
        self._value: list[Story] | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catalogue", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._step()
        except BaseException as exc:  # handed to whoever waits for the result
            self._error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> list[Story]:
        """The step's value once it has finished; its error, raised here, if it failed."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def popular(history: History, catalogue: Catalogue, limit: int) -> list[Story]:
    """The most interacted-with showable stories of the window; topped up with the newest ones."""
    out: list[Story] = []
    for item_id, _ in sorted(history.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        story = catalogue.story(item_id)
        if story is not None:
            out.append(story)
            if len(out) == limit:
                return out
    chosen = {s.story_id for s in out}
    for story in catalogue.newest(limit + len(out)):
        if story.story_id not in chosen and len(out) < limit:
            out.append(story)
    return out
