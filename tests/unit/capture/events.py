"""Firestore CloudEvents as Eventarc delivers them (protobuf DocumentEventData), for the real trigger functions.

The decorated functions in functions_gcp/main.py are called with these events exactly as the Functions
runtime calls them, so the decorator's own parsing (params, snapshots, auth context) is exercised.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from cloudevents.http import CloudEvent
from google.events.cloud.firestore_v1 import ArrayValue, Document, DocumentEventData, MapValue, Value
from google.protobuf.timestamp_pb2 import Timestamp

REPO = Path(__file__).resolve().parents[3]
PROJECT = "demo-storyrec"
WRITTEN = "google.cloud.firestore.document.v1.written"
CREATED_WITH_AUTH = "google.cloud.firestore.document.v1.created.withAuthContext"


def _timestamp(when: datetime) -> Timestamp:
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(UTC).replace(tzinfo=None))
    return ts


def value(v: Any) -> Value:
    """A Python value as a Firestore ``Value``."""
    if v is None:
        return Value(null_value=0)
    if isinstance(v, bool):
        return Value(boolean_value=v)
    if isinstance(v, int):
        return Value(integer_value=v)
    if isinstance(v, float):
        return Value(double_value=v)
    if isinstance(v, str):
        return Value(string_value=v)
    if isinstance(v, bytes):
        return Value(bytes_value=v)
    if isinstance(v, datetime):
        return Value(timestamp_value=_timestamp(v))
    if isinstance(v, list):
        return Value(array_value=ArrayValue(values=[value(x) for x in v]))
    if isinstance(v, Mapping):
        return Value(map_value=MapValue(fields={str(k): value(x) for k, x in v.items()}))
    raise TypeError(f"no Firestore value for {type(v).__name__}")


def expressible(data: Any) -> bool:
    """Whether Firestore could hold this as a document (a map; no array directly inside an array)."""

    def ok(v: Any, in_array: bool) -> bool:
        if isinstance(v, list):
            return not in_array and all(ok(x, True) for x in v)
        if isinstance(v, Mapping):
            return type(v) is dict and all(ok(x, False) for x in v.values())
        return v is None or isinstance(v, bool | int | float | str | bytes | datetime)

    return data is None or (type(data) is dict and ok(data, False))


def _document(path: str, data: Mapping[str, Any], updated: datetime) -> Document:
    return Document(
        name=f"projects/{PROJECT}/databases/(default)/documents/{path}",
        fields={k: value(v) for k, v in data.items()},
        create_time=_timestamp(updated),
        update_time=_timestamp(updated),
    )


def event(
    path: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    updated: datetime,
    event_type: str = WRITTEN,
    auth: tuple[str, str | None] | None = None,
    event_id: str = "evt-1",
) -> CloudEvent:
    """A Firestore CloudEvent for ``path``: ``after`` None is a delete (the event time is ``updated``)."""
    data = DocumentEventData(
        value=_document(path, after, updated) if after is not None else None,
        old_value=_document(path, before, updated) if before is not None else None,
    )
    attributes = {
        "specversion": "1.0",
        "id": event_id,
        "source": f"//firestore.googleapis.com/projects/{PROJECT}/databases/(default)",
        "type": event_type,
        "time": updated.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/protobuf",
        "location": "nam5",
        "project": PROJECT,
        "namespace": "(default)",
        "database": "(default)",
        "document": path,
        "subject": f"documents/{path}",
    }
    if auth is not None:
        attributes["authtype"], attributes["authid"] = auth[0], auth[1] or ""
    return CloudEvent(attributes, DocumentEventData.serialize(data))


def load_main(monkeypatch: Any) -> Iterator[ModuleType]:
    """functions_gcp/main.py imported as the Functions runtime imports it (a dummy emulator host so the
    decorator's own Firestore client needs no credentials; the capture service is injected by the test)."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.syspath_prepend(str(REPO / "functions_gcp"))
    sys.modules.pop("main", None)
    import main as module

    yield module
    sys.modules.pop("main", None)
