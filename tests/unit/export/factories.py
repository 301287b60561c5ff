"""Export test data: ML records as capture writes them (docs/records.md), and store wrappers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.errors import ServiceUnavailable
from shared.ports import DocumentStore, ObjectInfo, ObjectStore, Write

DAY = date(2026, 11, 28)
DAY_START = datetime(2026, 11, 28, tzinfo=UTC)
END = DAY_START + timedelta(days=1)
AFTER_DAY = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
HOSTILE = [
    "comma, inside",
    "double \"quotes\" and 'single'",
    "new\nline and\r\ncarriage",
    "pipe|separated|values",
    "emoji 📰🔥👩‍👩‍👧",
    "RTL عربي עברית",
    "  leading and trailing  ",
    "tab\there",
    '",\n|',
    "lone\rcarriage return",
]


def interaction(n: int, captured_at: datetime, **overrides: Any) -> tuple[str, dict[str, Any]]:
    """Click ``n``: doc id ``c<n>``; TIMESTAMP trails ``captured_at`` by one second."""
    data: dict[str, Any] = {
        "USER_ID": f"u{n % 7}",
        "ITEM_ID": f"s{n % 11}",
        "TIMESTAMP": int(captured_at.timestamp()) - 1,
        "EVENT_TYPE": ("open", "read", "comment", "like", "save")[n % 5],
        "EVENT_VALUE": float(n % 3) if n % 2 else None,
        "DEVICE": ("web", "ios", None)[n % 3],
        "SESSION_ID": f"sess-{n}",
        "click_id": f"c{n:06d}",
        "captured_at": captured_at,
    }
    data.update(overrides)
    return f"c{n:06d}", data


def item(story: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {
        "ITEM_ID": story,
        "CREATION_TIMESTAMP": 1_764_000_000,
        "CATEGORY": "news",
        "TAGS": "a|b",
        "SOURCE": "wire",
        "LANGUAGE": "en",
        "SUMMARY": f"Summary of {story}",
        "TITLE": "not exported",
        "active": True,
        "updated_at": DAY_START,
    }
    data.update(overrides)
    return story, data


def user(uid: str, **overrides: Any) -> tuple[str, dict[str, Any]]:
    data: dict[str, Any] = {"USER_ID": uid, "LANGUAGE": "en", "COUNTRY": "DE", "active": True, "updated_at": DAY_START}
    data.update(overrides)
    return uid, data


def day_of_clicks(
    count: int, start: datetime = DAY_START, step: timedelta | None = None, first: int = 0
) -> list[tuple[str, dict[str, Any]]]:
    """``count`` interactions spread over the day after ``start``."""
    step = step or timedelta(seconds=max(1, 86_000 // max(count, 1)))
    return [interaction(first + i, start + step * i + timedelta(seconds=1)) for i in range(count)]


def seed(store: DocumentStore, collection: str, docs: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    store.write_batch([Write(f"{collection}/{doc_id}", data=dict(data)) for doc_id, data in docs])


def read_csv(data: bytes) -> list[list[str]]:
    """Parse a CSV the way Personalize does: UTF-8, RFC 4180 quoting."""
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def cell(value: Any) -> str:
    """What a record value looks like in the CSV."""
    return "" if value is None else str(value)


def expected_interactions(docs: list[tuple[str, dict[str, Any]]]) -> list[list[str]]:
    """The interaction CSV rows (without header) the export must write for ``docs``."""
    from shared.schema import load_schema

    header = load_schema("interactions").header
    ordered = sorted(docs, key=lambda d: (d[1]["captured_at"], d[0]))  # the export query's order
    return [[cell(data.get(c)) for c in header] for _, data in ordered]  # columns a record lacks are empty


class FailingStore:
    """An ObjectStore whose writes fail (the bucket's cloud is down); reads pass through."""

    def __init__(self, inner: ObjectStore, *, after: int = 0) -> None:
        self.inner = inner
        self.bucket = inner.bucket
        self._allowed = after

    def _write(self) -> None:
        if self._allowed <= 0:
            raise ServiceUnavailable(f"{self.bucket} is down (injected)")
        self._allowed -= 1

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self._write()
        self.inner.put_bytes(key, data, content_type=content_type)

    def put_file(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> None:
        self._write()
        self.inner.put_file(key, path, content_type=content_type)

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def head(self, key: str) -> ObjectInfo | None:
        return self.inner.head(key)

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


class RecordingStore(FailingStore):
    """Passes everything through and remembers the order of writes."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner, after=10**9)
        self.writes: list[str] = []

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self.writes.append(key)
        super().put_bytes(key, data, content_type=content_type)

    def put_file(self, key: str, path: str, *, content_type: str = "application/octet-stream") -> None:
        self.writes.append(key)
        super().put_file(key, path, content_type=content_type)
