"""Capture use cases: one app document in, one ML record (or one quarantine record) out.

Triggers and the backfill command call the same three methods, so a replay follows the trigger path.
Events arrive at least once and in any order, so every method is idempotent and order-proof:

- clicks are created once (doc id = click id);
- items and users carry their source document's update time (``source_updated_at``) and are
  written through :meth:`DocumentStore.put_versioned`, a transaction that never lets an older
  version replace a newer one; a delete or unpublish writes a *tombstone* (``active: false``) at the
  time of the delete, which a late, older create or update cannot undo.

Only validation failures (:class:`Invalid`) quarantine; a failing store (``ServiceUnavailable``...)
propagates so the trigger fails and the platform delivers the event again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.capture.quarantine import quarantine_id, quarantine_record
from shared.capture.rate import CLICKS_PER_MINUTE, IMPRESSIONS_PER_MINUTE, claim_slot
from shared.capture.readers import INDEXED, add_to_reader, erase_reader, overflowed, reader_path, reader_update
from shared.capture.records import (
    Writer,
    check_doc_id,
    click_to_interaction,
    impression_to_record,
    is_published,
    story_to_item,
    user_to_ml_user,
)
from shared.capture.validation import Invalid, Reason
from shared.config import Collections
from shared.errors import InvalidRequest
from shared.logs import get_logger
from shared.ports import Clock, DocumentStore, MetricsSink, Write

_log = get_logger("capture")

VERSION_FIELD = "source_updated_at"
"""The update time of the source document (or the time of its deletion) an ML record reflects."""


class Outcome(StrEnum):
    """What a capture call did."""

    CAPTURED = "captured"
    DUPLICATE = "duplicate"
    UNCHANGED = "unchanged"
    DEACTIVATED = "deactivated"
    IGNORED = "ignored"
    STALE = "stale"
    QUARANTINED = "quarantined"
    FAILED = "failed"
    """Only the backfill reports this: a document it logged and skipped."""


_METRIC_PREFIX = {"clicks": "Click", "stories": "Story", "users": "User", "impressions": "Impression"}


@dataclass
class CaptureService:
    """Turns app documents into ML records through an injected store, clock and metrics sink."""

    store: DocumentStore
    clock: Clock
    metrics: MetricsSink
    collections: Collections = field(default_factory=Collections)
    verify_writer: bool = True
    """Compare a click's userId with the trigger's auth id (off only where that id is fake: the emulator)."""

    def capture_click(self, click_id: str, data: Any, *, writer: Writer | None = None) -> Outcome:
        """Validate, normalise and record one click exactly once; quarantine it if it is bad."""
        now = self.clock()
        try:
            record = _validated(
                lambda: click_to_interaction(click_id, data, now=now, writer=writer if self.verify_writer else None)
            )
        except Invalid as exc:
            return self._quarantine("clicks", click_id, exc.reason, exc.detail, data, version=None)
        # the ITEM_ID is a checked id (no '/'), so this path is always a top-level story, never a sub-document
        if self.store.get(f"{self.collections.stories}/{record['ITEM_ID']}") is None:
            detail = f"storyId: {record['ITEM_ID']!r} is not a story"
            return self._quarantine("clicks", click_id, Reason.UNKNOWN_STORY, detail, data, version=None)
        path = f"{self.collections.ml_interactions}/{click_id}"
        slot = claim_slot(self.store, self.collections.click_rate, record["USER_ID"], record["TIMESTAMP"], click_id)
        if not slot and self.store.get(path) is None:  # one captured before slots existed stays a duplicate
            detail = f"userId: over {CLICKS_PER_MINUTE} clicks in the minute of createdAt"
            return self._quarantine("clicks", click_id, Reason.RATE_LIMITED, detail, data, version=None)
        created = self._record_click(path, {**record, "captured_at": now, INDEXED: True})
        outcome = Outcome.CAPTURED if created else Outcome.DUPLICATE
        self._count("Click", outcome, {"event_type": record["EVENT_TYPE"]})
        _log.info("click %s", outcome, extra={"click_id": click_id, "event_type": record["EVENT_TYPE"]})
        return outcome

    def _record_click(self, path: str, record: dict[str, Any]) -> bool:
        """Create the interaction and add it to its reader's aggregate in one commit (True if created).

        A duplicate adds it to the aggregate again (a no-op, or a repair of one captured before aggregates
        existed). An aggregate that can hold no more (1 MiB) never fails the capture: the interaction is created
        alone and the aggregate marked overflowed, so the fill queries this reader's history instead.
        """
        uid, items = record["USER_ID"], {record["EVENT_TYPE"]: [record["ITEM_ID"]]}
        update = Write(reader_path(self.collections, uid), data=reader_update(uid, items), merge=True)
        try:
            created = self.store.create(path, record, also=(update,))
        except InvalidRequest as exc:  # the aggregate's part (the record alone raises again if it was the record)
            created = self.store.create(path, record)
            overflowed(self.store, self.collections, self.metrics, uid, exc)
            return created
        if not created:
            add_to_reader(self.store, self.collections, self.metrics, uid, items)
        return created

    def capture_impression(self, impression_id: str, data: Any, *, writer: Writer | None = None) -> Outcome:
        """Validate and record one impression exactly once (``ml_impressions``); quarantine it if it is bad."""
        now = self.clock()
        try:
            record = _validated(
                lambda: impression_to_record(
                    impression_id, data, now=now, writer=writer if self.verify_writer else None
                )
            )
        except Invalid as exc:
            return self._quarantine("impressions", impression_id, exc.reason, exc.detail, data, version=None)
        path = f"{self.collections.ml_impressions}/{impression_id}"
        slot = claim_slot(
            self.store,
            self.collections.impression_rate,
            record["USER_ID"],
            record["TIMESTAMP"],
            impression_id,
            IMPRESSIONS_PER_MINUTE,
        )
        if not slot:
            detail = f"userId: over {IMPRESSIONS_PER_MINUTE} impressions in the minute of createdAt"
            return self._quarantine("impressions", impression_id, Reason.RATE_LIMITED, detail, data, version=None)
        created = self.store.create(path, {**record, "captured_at": now})
        outcome = Outcome.CAPTURED if created else Outcome.DUPLICATE
        source = record["EVENT_ATTRIBUTION_SOURCE"] or ("personalize" if record["RECOMMENDATION_ID"] else "none")
        self._count("Impression", outcome, {"source": source})
        _log.info("impression %s", outcome, extra={"impression_id": impression_id, "stories": len(record["ITEM_IDS"])})
        return outcome

    def capture_story(self, story_id: str, data: Any, *, version: datetime) -> Outcome:
        """Upsert the item of a published story at ``version`` (the story's update time); once it is
        deleted or unpublished, leave a tombstone at ``version`` (the time of that change)."""
        if not is_published(data):
            return self._tombstone("Story", "stories", self.collections.ml_items, "ITEM_ID", story_id, version)
        try:
            record = _validated(lambda: story_to_item(story_id, data, now=self.clock()))
        except Invalid as exc:
            return self._quarantine("stories", story_id, exc.reason, exc.detail, data, version=version)
        if record["tags_dropped"]:
            self.metrics.put("StoryTagsDropped", record["tags_dropped"])
            _log.warning("story tags dropped", extra={"doc_id": story_id, "dropped": record["tags_dropped"]})
        return self._upsert("Story", f"{self.collections.ml_items}/{story_id}", record, story_id, version)

    def capture_user(self, uid: str, data: Any, *, version: datetime) -> Outcome:
        """Upsert the ML user of a user document at ``version``; a deleted user leaves a tombstone that
        keeps none of the user's data."""
        if data is None:
            return self._tombstone("User", "users", self.collections.ml_users, "USER_ID", uid, version)
        try:
            record = _validated(lambda: user_to_ml_user(uid, data))
        except Invalid as exc:
            return self._quarantine("users", uid, exc.reason, exc.detail, data, version=version)
        return self._upsert("User", f"{self.collections.ml_users}/{uid}", record, uid, version)

    def _upsert(self, kind: str, path: str, record: dict[str, Any], doc_id: str, version: datetime) -> Outcome:
        written = self.store.put_versioned(
            path,
            {**record, VERSION_FIELD: version},
            version_field=VERSION_FIELD,
            stamps={"updated_at": self.clock()},
        )
        outcome = {"written": Outcome.CAPTURED, "unchanged": Outcome.UNCHANGED, "stale": Outcome.STALE}[written]
        self._count(kind, outcome)
        _log.info("%s %s", kind.lower(), outcome, extra={"doc_id": doc_id})
        return outcome

    def _tombstone(
        self, kind: str, source: str, collection: str, id_column: str, doc_id: str, version: datetime
    ) -> Outcome:
        try:
            check_doc_id(id_column, doc_id)
        except Invalid:  # no record can exist under an id capture never accepted
            outcome = Outcome.IGNORED
        else:
            written = self.store.put_versioned(
                f"{collection}/{doc_id}",
                {id_column: doc_id, "active": False, VERSION_FIELD: version},
                version_field=VERSION_FIELD,
                stamps={"updated_at": self.clock()},
            )
            outcome = {"written": Outcome.DEACTIVATED, "unchanged": Outcome.IGNORED, "stale": Outcome.STALE}[written]
            if collection == self.collections.ml_users and written != "stale":  # a retry repairs it too
                erase_reader(self.store, self.collections, doc_id)
        self._count(kind, outcome)
        _log.info("%s %s", kind.lower(), outcome, extra={"doc_id": doc_id, "source": source})
        return outcome

    def _quarantine(
        self, source: str, doc_id: str, reason: Reason, detail: str, raw: Any, *, version: datetime | None
    ) -> Outcome:
        """Keep the rejected payload; count it once (a retried click or an unchanged replay adds nothing).

        Clicks (``version`` None) are quarantined once; stories and users per version, never replacing
        the quarantine record of a newer version.
        """
        path = f"{self.collections.quarantine}/{quarantine_id(source, doc_id)}"
        record = quarantine_record(source, doc_id, reason.value, detail, raw)
        stamps = {"quarantined_at": self.clock()}
        if version is None:
            fresh = self.store.create(path, {**record, **stamps})
        else:
            written = self.store.put_versioned(
                path, {**record, VERSION_FIELD: version}, version_field=VERSION_FIELD, stamps=stamps
            )
            fresh = written == "written"
        if fresh:
            self.metrics.put(f"{_METRIC_PREFIX[source]}Quarantined", dimensions={"reason": reason.value})
        extra = {"doc_id": doc_id[:200], "reason": reason.value, "detail": detail[:500]}
        _log.warning("%s quarantined", source, extra=extra)
        return Outcome.QUARANTINED

    def _count(self, kind: str, outcome: Outcome, dimensions: Mapping[str, str] | None = None) -> None:
        if outcome in (Outcome.CAPTURED, Outcome.DEACTIVATED):
            name = f"{kind}Captured" if outcome is Outcome.CAPTURED else f"{kind}Deactivated"
            self.metrics.put(name, dimensions=dimensions)
        elif outcome is Outcome.DUPLICATE:
            self.metrics.put(f"{kind}Duplicate")
        elif outcome is Outcome.STALE:
            self.metrics.put(f"{kind}Stale")


def _validated(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a pure validation; anything it did not foresee is still a payload problem (it does no I/O)."""
    try:
        return check()
    except Invalid:
        raise
    except Exception as exc:
        _log.exception("payload could not be parsed")
        raise Invalid(Reason.UNPARSEABLE, "document", f"{type(exc).__name__}: {exc}"[:500]) from exc
