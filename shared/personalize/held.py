"""Held interaction deltas: days too small for an INCREMENTAL import alone, kept until they reach the minimum.

Personalize refuses an INCREMENTAL interactions import of fewer than 1,000 records, so a small day is held
and imported later, combined with other held days. Each held day is its own object, written create-only
(``held-days/<hash>.json``); the held set is what a listing finds, so two days delivered at the same
time are both kept (no read-modify-write of a shared document). A day leaves the set through its
``held-done/<hash>.json`` marker, written once its combined job has started, or once it was reported
lost (a part gone or changed: one alert naming it, the other days still imported).

Each hold has its own identity (``hold_id``, drawn when its object is created; a redelivery finds the
object and keeps it), so a day re-exported after a loss and lost again is a new loss with its own alert,
although the manifest key and the bytes are the same.

Days are combined under a lease (``held-lease/<window>.json``, create-only, released when done), so two
passes that list different days never import one day twice; a pass without the lease leaves the
held days to the next. A lease left by a crashed pass lapses with its time window.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from shared.errors import NotFound
from shared.logs import get_logger
from shared.manifest import Manifest, ManifestDataset
from shared.ports import ObjectStore

_log = get_logger("personalize.held")
HELD = "held-days/"
DONE = "held-done/"
COMBINED = "held/"
LEASE = "held-lease/"
LEASE_SECONDS = 900
"""The longest a Lambda runs: a pass holding the lease is over after this long."""
LEGACY = "held-deltas.json"  # the single read-modify-write document of earlier releases


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class HeldPart:
    key: str
    sha256: str = ""
    """Empty only for a day held by an earlier release (not checked then)."""


@dataclass(frozen=True)
class HeldDay:
    """One manifest's interactions, held."""

    manifest_key: str
    day: date
    rows: int
    parts: tuple[HeldPart, ...]
    hold_id: str = ""
    """This hold's identity (a day held again after a loss is a new hold); empty only for a day held by an
    earlier release."""

    def as_json(self) -> bytes:
        body = {
            "manifest_key": self.manifest_key,
            "day": self.day.isoformat(),
            "rows": self.rows,
            "parts": [{"key": p.key, "sha256": p.sha256} for p in self.parts],
            "hold_id": self.hold_id,
        }
        return json.dumps(body, sort_keys=True, indent=2).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> HeldDay:
        return cls.from_dict(json.loads(raw))

    @classmethod
    def from_dict(cls, body: Any) -> HeldDay:
        parts = tuple(HeldPart(str(p["key"]), str(p.get("sha256", ""))) for p in body["parts"])
        day, rows, hold_id = date.fromisoformat(body["day"]), int(body["rows"]), str(body.get("hold_id", ""))
        return cls(str(body["manifest_key"]), day, rows, parts, hold_id)

    @classmethod
    def of(cls, manifest_key: str, manifest: Manifest, spec: ManifestDataset) -> HeldDay:
        parts = tuple(HeldPart(f.key, f.sha256) for f in spec.files if f.rows)
        return cls(manifest_key, manifest.day, spec.rows, parts)


class HeldDays:
    """The held days of one stage, under ``prefix`` of its bucket."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix

    def _held_key(self, manifest_key: str) -> str:
        return f"{self.prefix}{HELD}{_hash(manifest_key)}.json"

    def _done_key(self, manifest_key: str) -> str:
        return f"{self.prefix}{DONE}{_hash(manifest_key)}.json"

    def is_done(self, manifest_key: str) -> bool:
        return self.store.head(self._done_key(manifest_key)) is not None

    def find(self, manifest_key: str) -> HeldDay | None:
        """The day of ``manifest_key`` if it is held now (not done); None otherwise, or if its object is unreadable."""
        try:
            day = HeldDay.from_json(self.store.get_bytes(self._held_key(manifest_key)))
        except NotFound:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: the next combining pass reports it
        return None if self.is_done(manifest_key) else day

    def finished(self, manifest_key: str) -> tuple[HeldDay, str] | None:
        """The last hold of ``manifest_key`` and its outcome ("imported", "lost: ...") if it left the held set
        (and was not held again since); None otherwise, or for a marker of an earlier release (no hold kept)."""
        try:
            marker: Any = json.loads(self.store.get_bytes(self._done_key(manifest_key)))
            return HeldDay.from_dict(marker["held"]), str(marker["outcome"])
        except NotFound:
            return None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def hold(self, day: HeldDay) -> bool:
        """Keep ``day`` until it is combined; True if this call held it (False: held or imported before).

        A day reported lost is held again: its manifest was re-exported (the old one's parts are gone, so
        the import refuses it before it gets here). Each hold gets a new ``hold_id``; the create-only write
        keeps the first writer's, so every delivery of one hold reads the same identity.
        """
        try:
            marker: Any = json.loads(self.store.get_bytes(self._done_key(day.manifest_key)))
        except NotFound:
            marker = None
        if marker is not None:
            if not str(marker.get("outcome", "")).startswith("lost"):
                return False
            self._drop_lost(day.manifest_key, str(marker.get("hold_id", "")))
            self.store.delete(self._done_key(day.manifest_key))
        key = self._held_key(day.manifest_key)
        held = replace(day, hold_id=uuid.uuid4().hex)
        return self.store.put_if_absent(key, held.as_json(), content_type="application/json")

    def _drop_lost(self, manifest_key: str, hold_id: str) -> None:
        """Remove the object of the lost hold ``hold_id`` if a pass died before it did (never a newer hold's)."""
        key = self._held_key(manifest_key)
        try:
            left = HeldDay.from_json(self.store.get_bytes(key))
        except NotFound:
            return
        except (ValueError, KeyError, TypeError):
            return  # unreadable: the next pass reports it
        if left.hold_id == hold_id:
            self.store.delete(key)

    def days(self) -> tuple[list[HeldDay], list[str]]:
        """The held days, oldest first, and the keys of held objects that cannot be read (reported by the caller)."""
        days, unreadable = [], []
        for info in self.store.list(self.prefix + HELD):
            try:
                day = HeldDay.from_json(self.store.get_bytes(info.key))
            except NotFound:  # combined and removed since the listing
                continue
            except (ValueError, KeyError, TypeError):
                unreadable.append(info.key)
                continue
            if not self.is_done(day.manifest_key):
                days.append(day)
        return sorted(days, key=lambda d: (d.day, d.manifest_key)), unreadable

    def done(self, days: Iterable[HeldDay], outcome: str) -> None:
        """Take ``days`` out of the held set (the marker first: a crash in between leaves a day done, not held)."""
        for day in days:
            held = json.loads(day.as_json())  # what was held, to recognise the lost hold's manifest if delivered again
            marker = {"manifest_key": day.manifest_key, "hold_id": day.hold_id, "outcome": outcome, "held": held}
            body = json.dumps(marker).encode("utf-8")
            self.store.put_if_absent(self._done_key(day.manifest_key), body, content_type="application/json")
            self.store.delete(self._held_key(day.manifest_key))

    @contextmanager
    def lease(self, now: datetime) -> Iterator[bool]:
        """Yield True if this pass may combine held days now (no other pass is combining)."""
        window = int(now.timestamp()) // LEASE_SECONDS
        key = f"{self.prefix}{LEASE}{window}.json"
        if not self.store.put_if_absent(key, json.dumps({"at": now.isoformat()}).encode("utf-8")):
            yield False
            return
        try:
            yield not self._running(window - 1, now)
        finally:
            self.store.delete(key)

    def _running(self, window: int, now: datetime) -> bool:
        """True if the lease of ``window`` is held by a pass that may still run."""
        try:
            at = datetime.fromisoformat(json.loads(self.store.get_bytes(f"{self.prefix}{LEASE}{window}.json"))["at"])
        except NotFound:
            return False
        except (ValueError, KeyError, TypeError):
            return False  # an unreadable lease protects nothing
        return (now - at).total_seconds() < LEASE_SECONDS

    def drop_unreadable(self, key: str) -> None:
        self.store.delete(key)

    def migrate_legacy(self) -> int:
        """Move the days of the earlier single document into one object each; the number moved."""
        try:
            body: Any = json.loads(self.store.get_bytes(self.prefix + LEGACY))
        except NotFound:
            return 0
        for combined in body.get("combined", []):
            self.done([HeldDay(str(combined), date.min, 0, ())], "combined by an earlier release")
        moved = 0
        for h in body.get("deltas", []):
            parts = tuple(HeldPart(str(k)) for k in h["files"])
            moved += self.hold(HeldDay(str(h["manifest_key"]), date.fromisoformat(h["day"]), int(h["rows"]), parts))
        self.store.delete(self.prefix + LEGACY)
        _log.info("held deltas moved to one object per day", extra={"moved": moved})
        return moved


def first_group(days: list[HeldDay], minimum: int) -> list[HeldDay]:
    """The oldest held days that together reach ``minimum`` rows (empty if all of them do not).

    Taken in (date, key) order, so two passes that list the same days form the same group, hence the
    same job name: Personalize starts it once.
    """
    group: list[HeldDay] = []
    for day in days:
        group.append(day)
        if sum(d.rows for d in group) >= minimum:
            return group
    return []


def read_parts(store: ObjectStore, day: HeldDay) -> tuple[list[bytes], str | None]:
    """The held day's parts as they were exported, or why they cannot be (one gone or changed)."""
    bodies = []
    for part in day.parts:
        try:
            body = store.get_bytes(part.key)
        except NotFound:
            return [], f"part s3://{store.bucket}/{part.key} is gone"
        if part.sha256 and hashlib.sha256(body).hexdigest() != part.sha256:
            return [], f"part s3://{store.bucket}/{part.key} changed since it was exported"
        bodies.append(body)
    return bodies, None


def combined_csv(store: ObjectStore, group: list[HeldDay]) -> tuple[bytes, list[tuple[HeldDay, str]]]:
    """The group's parts as one CSV (one header), and the days whose parts are gone or changed, with why."""
    chunks: list[bytes] = []
    lost: list[tuple[HeldDay, str]] = []
    for day in group:
        bodies, why = read_parts(store, day)
        if why is not None:
            lost.append((day, why))
        else:
            for body in bodies:
                chunk = body if not chunks else body.split(b"\n", 1)[1] if b"\n" in body else b""
                chunks.append(chunk if chunk.endswith(b"\n") or not chunk else chunk + b"\n")
    return b"".join(chunks), lost


def combined_key(prefix: str, group: list[HeldDay]) -> tuple[str, str]:
    """The combined CSV's key (named by what it holds, so a retry writes the same object) and the job's run id."""
    name = "|".join(sorted(d.manifest_key for d in group))
    return f"{prefix}{COMBINED}interactions-{hashlib.sha256(name.encode()).hexdigest()[:16]}.csv", name
