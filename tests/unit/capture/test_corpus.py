"""The bad-input corpus (tests/corpus/capture_cases.py) through the capture use cases and the real triggers.

Every case must end as it says: captured (and then exportable: the export's row converter accepts the
record and no cell is a spreadsheet formula), deactivated (a tombstone), ignored, quarantined with its
reason (under a fixed-length key, in a record that fits a Firestore document), or an error that
propagates. Never a crash of another kind.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest

from shared.adapters.memory import InMemoryDocumentStore, RecordingMetrics
from shared.capture import wiring
from shared.capture.records import Writer
from shared.capture.service import CaptureService, Outcome
from shared.errors import AccessDenied, ServiceUnavailable
from shared.export.rows import RowConverter
from shared.limits import rule as field_rule
from shared.limits import rules
from shared.ports import Snapshot
from shared.schema import load_schema
from tests.corpus.capture_cases import CASES, FAULTS, STORIES, VERSION, Case, Fault, story
from tests.unit.capture import events
from tests.unit.capture.conftest import Clock

pytestmark = pytest.mark.unit

FIRESTORE_MAX_DOC = 1_048_576
_ML = {
    "clicks": ("ml_interactions", "interactions"),
    "stories": ("ml_items", "items"),
    "users": ("ml_users", "users"),
    "impressions": ("ml_impressions", "impressions"),
}


def _service() -> CaptureService:
    store = InMemoryDocumentStore()
    for story_id in STORIES:
        store.set(f"stories/{story_id}", story())
    return CaptureService(store, Clock(), RecordingMetrics())


def _run(service: CaptureService, case: Case) -> Outcome:
    if case.source == "clicks":
        writer = Writer(*case.writer) if case.writer else None
        return service.capture_click(case.id, case.data, writer=writer)
    if case.source == "impressions":
        writer = Writer(*case.writer) if case.writer else None
        return service.capture_impression(case.id, case.data, writer=writer)
    if case.source == "stories":
        return service.capture_story(case.id, case.data, version=VERSION)
    return service.capture_user(case.id, case.data, version=VERSION)


def firestore_size(value: Any) -> int:
    """Storage size of a value by Firestore's documented rules (strings: UTF-8 bytes + 1)."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 1
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, dict):
        return sum(firestore_size(k) + firestore_size(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(firestore_size(v) for v in value)
    if value is None or isinstance(value, bool):
        return 1
    return 8  # numbers and timestamps


def _ml_paths(store: InMemoryDocumentStore, collection: str) -> list[str]:
    return [p for p in store.docs if p.startswith(collection + "/")]


def _assert_exportable(dataset: str, record: dict[str, Any]) -> None:
    if dataset == "impressions":  # exported as the IMPRESSION cell of the clicks it is joined to
        assert field_rule("interactions", "IMPRESSION").cell_problem("|".join(record["ITEM_IDS"])) is None
        return
    converter = RowConverter(load_schema(dataset))
    line = converter.convert(Snapshot("x", "x", record))
    assert line is not None, f"the export rejects a captured record: {dict(converter.rejected)}"
    [cells] = list(csv.reader(io.StringIO(line)))
    for cell, rule in zip(cells, rules(dataset), strict=True):
        assert rule.cell_problem(cell) is None, f"{rule.column} cell {cell[:50]!r}: {rule.cell_problem(cell)}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.source}:{c.name}" for c in CASES])
def test_corpus_case_through_the_use_case(case: Case) -> None:
    service = _service()
    store = service.store
    assert isinstance(store, InMemoryDocumentStore)
    outcome = _run(service, case)
    expected, _, reason = case.expect.partition(":")
    assert outcome.value == expected, case.name
    collection, dataset = _ML[case.source]
    if expected == "quarantined":
        key = f"{case.source}-{hashlib.sha256(case.id.encode('utf-8')).hexdigest()}"
        record = store.get(f"ml_quarantine/{key}")
        assert record is not None and record["reason"] == reason, record and record["detail"]
        assert firestore_size(record) + firestore_size(key) + 32 < FIRESTORE_MAX_DOC
        assert record["raw_bytes"] >= len(record["raw"].encode()) and len(record["raw_sha256"]) == 64
        assert _ml_paths(store, collection) == []
        assert _ml_paths(store, "ml_readers") == []
    elif expected == "captured":
        [path] = _ml_paths(store, collection)
        record = store.get(path)
        assert record is not None and firestore_size(record) < FIRESTORE_MAX_DOC
        _assert_exportable(dataset, record)
        if case.source == "clicks":  # and in its reader's aggregate, in the same commit
            reader = store.get(f"ml_readers/{record['USER_ID']}")
            assert reader is not None and reader[f"items_{record['EVENT_TYPE']}"] == [record["ITEM_ID"]]
            assert firestore_size(reader) < FIRESTORE_MAX_DOC
    elif expected == "deactivated":
        record = store.get(f"{collection}/{case.id}")
        assert record is not None and record["active"] is False and record["source_updated_at"] == VERSION
        if case.source == "users":  # no story id kept for a deleted user
            assert store.get(f"ml_readers/{case.id}") == {"USER_ID": case.id, "incomplete": "erased"}
    else:
        assert _ml_paths(store, collection) == []


TRIGGERABLE = [
    c
    for c in CASES
    if events.expressible(c.data)
    and "/" not in c.id
    and c.id not in (".", "..")
    and not c.id.startswith("__")
    and len(c.id.encode()) <= 1500
]


@pytest.mark.parametrize("case", TRIGGERABLE, ids=[f"{c.source}:{c.name}" for c in TRIGGERABLE])
def test_corpus_case_through_the_real_trigger(main: ModuleType, monkeypatch: pytest.MonkeyPatch, case: Case) -> None:
    """The decorated function, fed the CloudEvent Eventarc would deliver, leaves the same state."""
    direct, triggered = _service(), _service()
    _run(direct, case)
    monkeypatch.setattr(wiring, "capture_service", lambda: triggered)
    path = f"{case.source}/{case.id}"
    if case.source in ("clicks", "impressions"):
        auth = case.writer or ("service_account", "importer@iam")
        function = main.capture_click if case.source == "clicks" else main.capture_impression
        function(events.event(path, after=case.data, updated=VERSION, event_type=events.CREATED_WITH_AUTH, auth=auth))
    else:
        function = main.capture_story if case.source == "stories" else main.capture_user
        function(events.event(path, after=case.data, updated=VERSION))
    assert _comparable(triggered.store) == _comparable(direct.store)


def _comparable(store: Any) -> dict[str, Any]:
    out = {}
    for path, doc in store.docs.items():
        # the trigger decodes numbers and times from protobuf: compare as the store would return them
        out[path] = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in doc.items()
            if k not in ("raw", "raw_bytes", "raw_sha256")
        }
    return out


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_infrastructure_fault_propagates_and_is_never_quarantined(
    monkeypatch: pytest.MonkeyPatch, fault: Fault
) -> None:
    service = _service()
    store = service.store
    assert isinstance(store, InMemoryDocumentStore)
    error = {"ServiceUnavailable": ServiceUnavailable, "AccessDenied": AccessDenied}[fault.expect.split(":")[1]]

    def down(*_: Any, **__: Any) -> Any:
        raise error("injected")

    before = dict(store.docs)
    monkeypatch.setattr(store, fault.method, down)
    with pytest.raises(error):
        _run(service, Case(fault.name, fault.source, fault.data, fault.expect))
    assert not [p for p in store.docs if p.startswith("ml_") and p not in before]
