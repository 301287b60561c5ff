"""The simulated app: stories published and retired, readers joining and leaving, clicks written.

What the app and its clients write goes to Firestore with the Admin SDK as the same documents the clients
write (infra/local/demo/client.py's ``click_write`` shapes), then the capture use case runs on it as the
deployed trigger would (``CaptureService.capture_*``; the Functions emulator transport is not in the loop:
docs/simulate.md says why). ``createdAt`` is the virtual request time: the emulator's real
``REQUEST_TIME`` cannot follow a virtual clock, so the rules' ``createdAt == request.time`` check is
left to tests/rules and the demo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from infra.local.simulate.readers import Reader, ReaderModel, Shown, Story, Visit
from shared.capture.records import Writer
from shared.capture.service import CaptureService, Outcome
from shared.config import Settings

TOPIC_NAMES = ("world", "politics", "business", "tech", "science", "sport", "culture", "health")


def topic_name(topic: int) -> str:
    return TOPIC_NAMES[topic] if topic < len(TOPIC_NAMES) else f"topic{topic}"


@dataclass(frozen=True)
class WorldParams:
    """The app around the readers (docs/simulate.md)."""

    stories_per_day: int = 24
    retire_after_days: int = 14
    """A story is unpublished (deleted) this many days after publication."""
    initial_share: float = 0.7
    """Share of ``--readers`` who exist on day 0; the rest join evenly over the run."""
    leave_per_day: float = 0.004
    """Daily probability that a reader deletes their account."""
    hostile_per_day: int = 4
    """Hostile clicks per day (the capture must quarantine each: never exported)."""
    hostile_impressions_per_day: int = 4
    """Hostile impressions per day, the capture corpus's cases in turn (infra/local/simulate/hostile.py): each
    quarantined by capture (or refused by Firestore), never in an export's IMPRESSION cell or exposure file."""
    latest_size: int = 10


class _Unsent:
    """The outcome of a click :meth:`World.write_click` queued for :meth:`World.send_deferred` (until sent)."""

    value = ""


@dataclass(frozen=True)
class SentClick:
    """A click the simulation wrote: ``hostile`` ones must never be exported."""

    click_id: str
    uid: str
    sid: str
    type: str
    created: datetime
    hostile: str = ""
    source: str = ""
    position: int = -1
    outcome: str = ""
    view: FeedView | None = None
    """The list the click came from, as the client knew it (None: a hostile write, no list)."""
    impression_id: str = ""
    """The impression the client recorded for that view (the export joins it into IMPRESSION)."""

    @property
    def key(self) -> tuple[str, str, int, str]:
        """What identifies the click in an export row and in the engine's dataset."""
        return (self.uid, self.sid, int(self.created.timestamp()), self.type)


@dataclass(frozen=True)
class FeedView:
    """A list as a client shows it, with its attribution (docs/client.md): the reader's feed document's
    ``recommendationId`` / ``attributionSource`` / ``arm`` / ``experimentId``, or the "latest" list."""

    list: str
    """``feed`` or ``latest``."""
    recommendation_id: str | None = None
    source: str | None = None
    arm: str | None = None
    experiment_id: str | None = None
    kind: str | None = None
    """The feed's ``kind`` (personalized / popular)."""

    @classmethod
    def of_feed(cls, doc: dict[str, Any]) -> FeedView:
        def text(name: str) -> str | None:
            value = doc.get(name)
            return value if isinstance(value, str) and value else None

        return cls(
            "feed", text("recommendationId"), text("attributionSource"), text("arm"), text("experimentId"), text("kind")
        )

    def fields(self) -> dict[str, str]:
        """The attribution a click or an impression from this list carries (client.md: the feed's
        ``recommendationId`` and ``attributionSource``, or ``source: latest``)."""
        if self.list == "latest":
            return {"source": "latest"}
        out = {"recommendationId": self.recommendation_id, "source": self.source}
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class SentImpression:
    """An impression the simulation wrote (``impressions/{id}``): what one view of a list showed."""

    impression_id: str
    uid: str
    story_ids: tuple[str, ...]
    view: FeedView
    created: datetime
    outcome: str = ""


@dataclass(frozen=True)
class SentHostileImpression:
    """A hostile impression the simulation wrote: a capture corpus case (infra/local/simulate/hostile.py)."""

    impression_id: str
    uid: str
    """The reader whose client wrote it (as the run attributes it; the document may say otherwise)."""
    case: str
    reason: str
    """The quarantine reason the corpus expects."""
    created: datetime
    cell: str | None
    """The IMPRESSION cell it would give a click if it leaked (its story ids), None if it has no id list."""
    from_feed: bool
    """Whether it carries a feed's attribution (a leak would count in an exposure file)."""
    outcome: str = ""
    """``quarantined`` (capture), ``refused`` (Firestore would not hold the document), or what capture said."""


@dataclass(frozen=True)
class _Pending:
    """A document :meth:`World.send_deferred` writes and captures: a click, an impression or a hostile one."""

    kind: str
    index: int
    doc_id: str
    data: Any
    writer: Writer
    at: datetime
    """The virtual time it was written (capture's clock; a hostile ``createdAt`` may be anything)."""
    reader: str


@dataclass
class World:
    """Ground truth: every story, reader and click, as the generator knows them."""

    settings: Settings
    model: ReaderModel
    params: WorldParams
    rng: np.random.Generator
    firestore: Any
    capture: CaptureService
    clock: Callable[[], datetime]
    stories: dict[str, Story] = field(default_factory=dict)
    retired: dict[str, datetime] = field(default_factory=dict)
    readers: dict[str, Reader] = field(default_factory=dict)
    deferred: list[_Pending] | None = None
    """When a list, :meth:`write_click`, :meth:`write_impression` and :meth:`write_hostile_impression` queue
    their document here for :meth:`send_deferred` instead of sending it."""
    left: dict[str, datetime] = field(default_factory=dict)
    joined: dict[str, datetime] = field(default_factory=dict)
    clicks: list[SentClick] = field(default_factory=list)
    impressions: list[SentImpression] = field(default_factory=list)
    hostile_impressions: list[SentHostileImpression] = field(default_factory=list)
    hostile_rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    """Draws of the hostile impressions (their own generator: the readers' and the app's draws stay those of a
    run without them)."""
    clock_skew_hours: float = 0.0
    """Client clock skew (a fault): odd readers' devices 4 minutes ahead, even ones this many hours behind
    (both within docs/client.md's tolerance, so their clicks must be captured)."""
    _story_seq: int = 0
    _reader_seq: int = 0
    _click_seq: int = 0
    _impression_seq: int = 0
    _hostile_seq: int = 0

    # --- stories -------------------------------------------------------------------------------------
    def publish(self, count: int) -> list[str]:
        """The backend publishes ``count`` stories now (stories/{id}), captured as ml_items."""
        now = self.clock()
        made = []
        for _ in range(count):
            self._story_seq += 1
            sid = f"s{self._story_seq:06d}"
            topic = self.model.story_topic()
            doc = {
                "title": f"{topic_name(topic).title()} story {self._story_seq}",
                "summary": f"A simulated {topic_name(topic)} story.",
                "category": topic_name(topic),
                "lang": "en",
                "publishedAt": now,
                "status": "published",
                "source": "simulate",
            }
            self.firestore.document(f"{self.settings.collections.stories}/{sid}").set(doc)
            self.capture.capture_story(sid, doc, version=now)
            self.stories[sid] = Story(sid, topic, now)
            made.append(sid)
        return made

    def delete_story(self, sid: str) -> None:
        """The backend deletes a story; capture leaves a tombstone."""
        now = self.clock()
        self.firestore.document(f"{self.settings.collections.stories}/{sid}").delete()
        self.capture.capture_story(sid, None, version=now)
        self.stories.pop(sid, None)
        self.retired[sid] = now

    def retire_old(self) -> list[str]:
        cutoff = self.clock() - timedelta(days=self.params.retire_after_days)
        old = [sid for sid, s in self.stories.items() if s.published_at <= cutoff]
        for sid in old:
            self.delete_story(sid)
        return old

    def latest(self) -> list[str]:
        """The app's "latest" list: the newest published stories."""
        newest = sorted(self.stories.values(), key=lambda s: (s.published_at, s.sid), reverse=True)
        return [s.sid for s in newest[: self.params.latest_size]]

    # --- readers -------------------------------------------------------------------------------------
    def join(self, count: int) -> list[str]:
        """New readers sign up: each client writes its own profile (users/{uid}), captured as ml_users."""
        now = self.clock()
        made = []
        for _ in range(count):
            self._reader_seq += 1
            uid = f"r{self._reader_seq:05d}"
            profile = {"lang": "en", "country": "br"}
            self.firestore.document(f"{self.settings.collections.users}/{uid}").set(profile)
            self.capture.capture_user(uid, profile, version=now)
            self.readers[uid] = self.model.new_reader(uid)
            self.joined[uid] = now
            made.append(uid)
        return made

    def leave(self) -> list[str]:
        """Some readers delete their account (users/{uid} deleted; capture leaves a tombstone)."""
        now = self.clock()
        gone = [uid for uid in sorted(self.readers) if self.rng.random() < self.params.leave_per_day]
        for uid in gone:
            self.firestore.document(f"{self.settings.collections.users}/{uid}").delete()
            self.capture.capture_user(uid, None, version=now)
            self.readers.pop(uid)
            self.left[uid] = now
        return gone

    # --- clicks --------------------------------------------------------------------------------------
    def _next_click_id(self) -> str:
        self._click_seq += 1
        return f"c{self._click_seq:08d}"

    def _skew_hours(self, uid: str) -> float:
        skew_hours = self.clock_skew_hours * (1 if sum(map(ord, uid)) % 2 else -1) if self.clock_skew_hours else 0.0
        return min(skew_hours, 4 / 60) if skew_hours > 0 else skew_hours  # ahead: the contract tolerates 5 minutes

    def write_impression(self, uid: str, story_ids: list[str], view: FeedView) -> SentImpression:
        """Write impressions/{id} as the client does (docs/client.md: a client-generated id, the stories seen
        in list order, the list's attribution) and run the capture use case on it, as its trigger would."""
        now = self.clock()
        self._impression_seq += 1
        impression_id = f"i{self._impression_seq:08d}"
        data: dict[str, Any] = {
            "userId": uid,
            "storyIds": story_ids[:25],
            **view.fields(),
            "clientTime": now + timedelta(hours=self._skew_hours(uid)),
            "createdAt": now,
        }
        writer = Writer("user", uid)
        outcome: Outcome | type[_Unsent] = _Unsent
        if self.deferred is None:
            outcome = self._send_impression(impression_id, data, writer)
        else:  # sent by send_deferred(), at this virtual time, before the visit's clicks
            self.deferred.append(_Pending("impression", len(self.impressions), impression_id, data, writer, now, uid))
        sent = SentImpression(impression_id, uid, tuple(story_ids[:25]), view, now, outcome.value)
        self.impressions.append(sent)
        return sent

    def write_click(
        self,
        uid: str,
        sid: str,
        kind: str,
        *,
        writer: str | None = None,
        hostile: str = "",
        shown: Shown | None = None,
        view: FeedView | None = None,
        impression_id: str = "",
    ) -> SentClick:
        """Write clicks/{id} as the client does and run the capture use case on it, as its trigger would."""
        now = self.clock()
        click_id = self._next_click_id()
        skew_hours = self._skew_hours(uid)
        if hostile == "clock_ahead":
            skew_hours = 7.0
        data: dict[str, Any] = {
            "userId": uid,
            "storyId": sid,
            "type": kind,
            "clientTime": now + timedelta(hours=skew_hours),  # the device's clock, possibly skewed
            "sessionId": f"{uid}-{now:%Y%m%d}",
            "device": "web",
            "createdAt": now,  # the server's request time (the rules insist), here the virtual one
            **(view.fields() if view else {}),
        }
        author = Writer("user", writer or uid)
        outcome: Outcome | type[_Unsent] = _Unsent
        if self.deferred is None:
            outcome = self._send_click(click_id, data, author)
        else:  # sent by send_deferred(), at this virtual time
            self.deferred.append(_Pending("click", len(self.clicks), click_id, data, author, now, uid))
        sent = SentClick(
            click_id,
            uid,
            sid,
            kind,
            now,
            hostile,
            shown.source if shown else "",
            shown.position if shown else -1,
            outcome.value,
            view,
            impression_id,
        )
        self.clicks.append(sent)
        return sent

    def visit(self, reader: Reader, feed: list[str], feed_doc: dict[str, Any] | None = None) -> list[SentClick]:
        """One visit: the reader sees their feed and the latest list and clicks (closed loop). The client
        records an impression of each list the reader saw something of, then each click with its list's
        attribution (docs/client.md); both are written at the visit's time, impressions first."""
        look: Visit = self.model.look(reader, feed, self.latest(), self.stories, self.clock())
        views = {"feed": FeedView.of_feed(feed_doc or {}), "latest": FeedView("latest")}
        written: dict[str, str] = {}
        for name, view in views.items():
            seen = look.seen_in(name)
            if seen:
                written[name] = self.write_impression(reader.uid, seen, view).impression_id
        return [
            self.write_click(
                reader.uid,
                c.sid,
                self.model.click_type(),
                shown=c,
                view=views[c.source],
                impression_id=written.get(c.source, ""),
            )
            for c in look.clicked
        ]

    def hostile(self, count: int) -> list[SentClick]:
        """Writes a hostile client makes that reach capture: each must be quarantined, never exported."""
        if not self.readers or not self.stories:
            return []
        uids, sids = sorted(self.readers), sorted(self.stories)
        kinds = ("unknown_story", "impersonation", "bad_type", "csv_injection", "retired_story", "clock_ahead")
        sent = []
        for i in range(count):
            kind = kinds[int(self.rng.integers(len(kinds)))]
            uid = uids[int(self.rng.integers(len(uids)))]
            sid = sids[int(self.rng.integers(len(sids)))]
            if kind == "unknown_story":
                sent.append(self.write_click(uid, f"never-published-{i}", "open", hostile=kind))
            elif kind == "impersonation":
                other = uids[(uids.index(uid) + 1) % len(uids)]
                if other == uid:
                    continue
                sent.append(self.write_click(other, sid, "open", writer=uid, hostile=kind))
            elif kind == "bad_type":
                sent.append(self.write_click(uid, sid, "teleport", hostile=kind))
            elif kind == "csv_injection":
                sent.append(self.write_click(uid, 's1,"=HYPERLINK(1)"', "open", hostile=kind))
            elif kind == "clock_ahead":  # a device 7 hours ahead: beyond the contract's 5 minutes
                sent.append(self.write_click(uid, sid, "open", hostile=kind))
            elif self.retired:
                gone = sorted(self.retired)[int(self.rng.integers(len(self.retired)))]
                sent.append(self.write_click(uid, gone, "open", hostile=kind))
        return sent

    def write_hostile_impression(self, feeds: dict[str, dict[str, Any]]) -> SentHostileImpression | None:
        """A hostile client writes the next capture corpus case as an impression (infra/local/simulate/hostile.py),
        by the path the readers' impressions take; ``feeds``: the day's feed documents (a reader with one sends
        its attribution, so a leak would count in the test's exposure file). None when no reader exists."""
        from infra.local.simulate import hostile

        if not self.readers:
            return None
        uids = sorted(u for u in feeds if u in self.readers) or sorted(self.readers)
        uid = uids[int(self.hostile_rng.integers(len(uids)))]
        everyone = sorted(self.readers)
        other = everyone[(everyone.index(uid) + 1) % len(everyone)]  # another reader, for a forged userId
        other = other if other != uid else f"{uid}-other"
        view = FeedView.of_feed(feeds[uid]) if uid in feeds else FeedView("latest")
        attribution = view.fields() or FeedView("latest").fields()
        cases = hostile.corpus_cases()
        now = self.clock()
        case = hostile.adapt(cases[self._hostile_seq % len(cases)], self._hostile_seq, uid, other, attribution, now)
        self._hostile_seq += 1
        fields = case.data if isinstance(case.data, dict) else {}
        feed = bool(fields.get("recommendationId")) or str(fields.get("source", "")).startswith("storyrec-")
        outcome: str = _Unsent.value
        if self.deferred is None:
            outcome = self._send_hostile_impression(case.doc_id, case.data, case.writer)
        else:
            index = len(self.hostile_impressions)
            self.deferred.append(_Pending("hostile_impression", index, case.doc_id, case.data, case.writer, now, uid))
        sent = SentHostileImpression(
            case.doc_id, uid, case.case, case.reason, now, hostile.story_cell(case.data), feed, outcome
        )
        self.hostile_impressions.append(sent)
        return sent

    # --- deferred clicks ---------------------------------------------------------------------------------
    def _send_click(self, click_id: str, data: dict[str, Any], writer: Writer) -> Outcome:
        self.firestore.document(f"{self.settings.collections.clicks}/{click_id}").set(data)
        return self.capture.capture_click(click_id, data, writer=writer)

    def _send_impression(self, impression_id: str, data: dict[str, Any], writer: Writer) -> Outcome:
        self.firestore.document(f"{self.settings.collections.impressions}/{impression_id}").set(data)
        return self.capture.capture_impression(impression_id, data, writer=writer)

    def _send_hostile_impression(self, impression_id: str, data: Any, writer: Writer) -> str:
        """Write it; a document Firestore will not hold (a path for an id, a list for a document) is refused
        there and never reaches capture: ``refused``. Otherwise capture's outcome (``quarantined`` is due)."""
        from google.api_core import exceptions

        try:
            self.firestore.document(f"{self.settings.collections.impressions}/{impression_id}").set(data)
        except (ValueError, TypeError, AttributeError, exceptions.InvalidArgument):
            return "refused"
        return self.capture.capture_impression(impression_id, data, writer=writer).value

    def _send(self, item: _Pending) -> str:
        if item.kind == "click":
            return self._send_click(item.doc_id, item.data, item.writer).value
        if item.kind == "impression":
            return self._send_impression(item.doc_id, item.data, item.writer).value
        return self._send_hostile_impression(item.doc_id, item.data, item.writer)

    def send_deferred(self, pin: Callable[[datetime], Any], workers: int = 4) -> None:
        """Write the impressions and clicks deferred by :meth:`write_impression` / :meth:`write_click` (and the
        hostile impressions) and capture them, each under ``pin(the virtual time it was written)`` (the virtual
        clock pinned on the worker's thread), ``workers`` readers at a time: one reader's documents in the order
        the client wrote them (a visit's impressions before its clicks; the rate limit counts them), readers
        side by side as the capture triggers' instances run them. Each outcome is then recorded in ``clicks`` /
        ``impressions`` / ``hostile_impressions``."""
        from concurrent.futures import ThreadPoolExecutor

        pending, self.deferred = self.deferred or [], None
        by_writer: dict[str, list[_Pending]] = {}
        for item in pending:
            by_writer.setdefault(item.reader, []).append(item)

        def send(items: list[_Pending]) -> list[tuple[_Pending, str]]:
            done = []
            for item in items:
                with pin(item.at):
                    done.append((item, self._send(item)))
            return done

        with ThreadPoolExecutor(max(1, workers)) as pool:
            for done in pool.map(send, [by_writer[k] for k in sorted(by_writer)]):
                for item, outcome in done:
                    i = item.index
                    if item.kind == "click":
                        self.clicks[i] = replace(self.clicks[i], outcome=outcome)
                    elif item.kind == "impression":
                        self.impressions[i] = replace(self.impressions[i], outcome=outcome)
                    else:
                        self.hostile_impressions[i] = replace(self.hostile_impressions[i], outcome=outcome)


def accepted(click: SentClick) -> bool:
    """A legitimate click the capture took in (the ground truth the export must carry exactly once)."""
    return not click.hostile and click.outcome in (Outcome.CAPTURED.value, Outcome.DUPLICATE.value)
