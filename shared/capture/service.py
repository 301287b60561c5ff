"""Capture use cases: one app document in, one ML record (or one quarantine record) out.

Triggers and the backfill command call the same three methods, so a replay follows the trigger path.
Every method is idempotent: clicks are created once (doc id = click id); items and users are only
rewritten when their content changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.capture.quarantine import quarantine_id, quarantine_record
from shared.capture.records import Writer, click_to_interaction, is_published, story_to_item, user_to_ml_user
from shared.capture.validation import Invalid, Reason
from shared.config import Collections
from shared.logs import get_logger
from shared.ports import Clock, DocumentStore, MetricsSink

_log = get_logger("capture")


class Outcome(StrEnum):
    """What a capture call did."""

    CAPTURED = "captured"
    DUPLICATE = "duplicate"
    UNCHANGED = "unchanged"
    DEACTIVATED = "deactivated"
    IGNORED = "ignored"
    QUARANTINED = "quarantined"


_METRIC_PREFIX = {"clicks": "Click", "stories": "Story", "users": "User"}


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
            record = click_to_interaction(
                click_id, data, now=now, writer=writer if self.verify_writer else None
            )
            if self.store.get(f"{self.collections.stories}/{record['ITEM_ID']}") is None:
                raise Invalid(Reason.UNKNOWN_STORY, "storyId", f"{record['ITEM_ID']!r} is not a story")
        except Invalid as exc:
            return self._quarantine("clicks", click_id, exc.reason, exc.detail, data, once=True)
        except Exception as exc:  # a payload the checks did not foresee must still be kept, not lost
            _log.exception("click could not be parsed", extra={"click_id": click_id})
            return self._quarantine("clicks", click_id, Reason.UNPARSEABLE, repr(exc), data, once=True)
        path = f"{self.collections.ml_interactions}/{click_id}"
        created = self.store.create(path, {**record, "captured_at": now})
        outcome = Outcome.CAPTURED if created else Outcome.DUPLICATE
        self._count("Click", outcome, {"event_type": record["EVENT_TYPE"]})
        _log.info("click %s", outcome, extra={"click_id": click_id, "event_type": record["EVENT_TYPE"]})
        return outcome

    def capture_story(self, story_id: str, data: Mapping[str, Any] | None) -> Outcome:
        """Upsert the item of a published story; mark it inactive once deleted or unpublished."""
        path = f"{self.collections.ml_items}/{story_id}"
        if not is_published(data):
            return self._deactivate("Story", path, story_id)
        try:
            record = story_to_item(story_id, data, now=self.clock())
        except Invalid as exc:
            return self._quarantine("stories", story_id, exc.reason, exc.detail, data, once=False)
        return self._upsert("Story", path, record, story_id)

    def capture_user(self, uid: str, data: Mapping[str, Any] | None) -> Outcome:
        """Upsert the ML user of a user document; mark it inactive once the user is deleted."""
        path = f"{self.collections.ml_users}/{uid}"
        if data is None:
            return self._deactivate("User", path, uid)
        try:
            record = user_to_ml_user(uid, data)
        except Invalid as exc:
            return self._quarantine("users", uid, exc.reason, exc.detail, data, once=False)
        return self._upsert("User", path, record, uid)

    def _upsert(self, kind: str, path: str, record: dict[str, Any], doc_id: str) -> Outcome:
        existing = self.store.get(path)
        if existing is not None and _same(existing, record, "updated_at"):
            outcome = Outcome.UNCHANGED
        else:
            self.store.set(path, {**record, "updated_at": self.clock()})
            outcome = Outcome.CAPTURED
        self._count(kind, outcome)
        _log.info("%s %s", kind.lower(), outcome, extra={"doc_id": doc_id})
        return outcome

    def _deactivate(self, kind: str, path: str, doc_id: str) -> Outcome:
        existing = self.store.get(path)
        if existing is None or existing.get("active") is False:
            outcome = Outcome.IGNORED
        else:
            self.store.set(path, {"active": False, "updated_at": self.clock()}, merge=True)
            outcome = Outcome.DEACTIVATED
        self._count(kind, outcome)
        _log.info("%s %s", kind.lower(), outcome, extra={"doc_id": doc_id})
        return outcome

    def _quarantine(
        self, source: str, doc_id: str, reason: Reason, detail: str, raw: Any, *, once: bool
    ) -> Outcome:
        """Keep the rejected payload; count it once (a retried click or an unchanged replay adds nothing)."""
        path = f"{self.collections.quarantine}/{quarantine_id(source, doc_id)}"
        record = quarantine_record(source, doc_id, reason.value, detail, raw)
        if once:
            fresh = self.store.create(path, {**record, "quarantined_at": self.clock()})
        else:
            existing = self.store.get(path)
            fresh = existing is None or not _same(existing, record, "quarantined_at")
            if fresh:
                self.store.set(path, {**record, "quarantined_at": self.clock()})
        if fresh:
            self.metrics.put(f"{_METRIC_PREFIX[source]}Quarantined", dimensions={"reason": reason.value})
        extra = {"doc_id": doc_id, "reason": reason.value, "detail": detail}
        _log.warning("%s quarantined", source, extra=extra)
        return Outcome.QUARANTINED

    def _count(self, kind: str, outcome: Outcome, dimensions: Mapping[str, str] | None = None) -> None:
        if outcome in (Outcome.CAPTURED, Outcome.DEACTIVATED):
            name = f"{kind}Captured" if outcome is Outcome.CAPTURED else f"{kind}Deactivated"
            self.metrics.put(name, dimensions=dimensions)
        elif outcome is Outcome.DUPLICATE:
            self.metrics.put(f"{kind}Duplicate")


def _same(existing: Mapping[str, Any], record: Mapping[str, Any], stamp: str) -> bool:
    return {k: v for k, v in existing.items() if k != stamp} == dict(record)
