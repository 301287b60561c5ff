"""The export corpus (tests/corpus/export_cases.py): records written to the ML collections by anything other
than capture are exported only if capture's checks pass; the rest are quarantined with their reason.

Here in memory: the converter case by case, then the whole corpus through ``run_export`` (manifest counts,
metric, quarantine records, a CSV that parses with the schema). The same corpus runs on the Firestore
emulator in tests/integration/export/test_export_corpus.py.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.counters import StoreCounter
from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore, RecordingMetrics
from shared.capture.quarantine import quarantine_id
from shared.export import ExportDeps, run_export
from shared.export.rows import RowConverter
from shared.export.run import run_export_event
from shared.limits import rules
from shared.ports import Snapshot
from shared.schema import load_schema
from tests.corpus.export_cases import CASES, NOW, ExportCase, interaction
from tests.unit.export.factories import DAY, day_of_clicks, read_csv, seed
from tests.unit.export.test_shards import RecordingPublisher, _deliver

pytestmark = pytest.mark.unit

FIRESTORE_MAX_DOC = 1_048_576


def _doc_id(index: int) -> str:
    return f"case-{index:03d}"


def _converted(case: ExportCase) -> tuple[list[str] | None, RowConverter]:
    converter = RowConverter(load_schema(case.dataset), NOW)
    line = converter.convert(Snapshot("doc-1", f"{case.collection}/doc-1", case.data))
    return (None if line is None else read_csv(line.encode("utf-8"))[0]), converter


@pytest.mark.parametrize("case", CASES, ids=[f"{c.dataset}:{c.name}" for c in CASES])
def test_corpus_case_through_the_converter(case: ExportCase) -> None:
    cells, converter = _converted(case)
    outcome, _, detail = case.expect.partition(":")
    if outcome == "quarantined":
        assert cells is None, f"{case.name} was exported"
        assert converter.rejected == {detail: 1}
        [reject] = converter.take_rejects()
        assert reject.doc_id == "doc-1" and reject.reason == detail and reject.detail
        return
    assert cells is not None, f"{case.name} was rejected: {converter.rejects}"
    header = load_schema(case.dataset).header
    assert len(cells) == len(header)
    for cell, rule in zip(cells, rules(case.dataset), strict=True):
        assert rule.cell_problem(cell) is None, f"{rule.column}: {cell[:40]!r}"
    if detail:
        column, _, expected = detail.partition("=")
        assert cells[header.index(column)] == expected


def test_whole_corpus_through_the_export(deps: ExportDeps) -> None:
    for index, case in enumerate(CASES):
        seed(deps.docs, case.collection, [(_doc_id(index), case.data)])
    result = run_export(DAY, deps)

    objects = {o.key: deps.import_store.get_bytes(o.key) for o in deps.import_store.list("")}
    manifest = json.loads(objects[result.manifest_key])
    for dataset in ("interactions", "items", "users"):
        cases = [c for c in CASES if c.dataset == dataset]
        good = [c for c in cases if c.expect.startswith("exported")]
        expected = Counter(c.expect.split(":")[1] for c in cases if c.expect.startswith("quarantined"))
        assert manifest["datasets"][dataset]["rejected"] == dict(expected)
        assert result.rows(dataset) == len(good)
        [key] = [k for k in objects if k.startswith(f"{dataset}/")]
        table = read_csv(objects[key])
        assert table[0] == load_schema(dataset).header and len(table) == len(good) + 1
        for row in table[1:]:
            assert [r.cell_problem(cell) for cell, r in zip(row, rules(dataset), strict=True)] == [None] * len(row)
        assert isinstance(deps.metrics, RecordingMetrics)
        counted = [p for p in deps.metrics.points if p[0] == "ExportRejectedRows" and p[3] == {"Dataset": dataset}]
        assert sum(p[1] for p in counted) == sum(expected.values())

    store = deps.docs
    assert isinstance(store, InMemoryDocumentStore)
    for index, case in enumerate(CASES):
        record = store.get(f"ml_quarantine/{quarantine_id(case.collection, _doc_id(index))}")
        if case.expect.startswith("quarantined"):
            assert record is not None, case.name
            assert record["reason"] == case.expect.split(":")[1] and record["stage"] == "export"
            assert record["source"] == case.collection and record["doc_id"] == _doc_id(index)
            assert len(json.dumps(record, default=str).encode()) < FIRESTORE_MAX_DOC
        else:
            assert record is None, case.name


def test_a_rerun_overwrites_the_quarantine_records_instead_of_adding(deps: ExportDeps) -> None:
    seed(deps.docs, "ml_interactions", day_of_clicks(3))
    seed(
        deps.docs, "ml_users", [("bad", {"USER_ID": "a|b", "active": True}), ("ok", {"USER_ID": "u1", "active": True})]
    )
    run_export(DAY, deps)
    store = deps.docs
    assert isinstance(store, InMemoryDocumentStore)
    before = sorted(p for p in store.docs if p.startswith("ml_quarantine/"))
    run_export(DAY, deps)
    assert sorted(p for p in store.docs if p.startswith("ml_quarantine/")) == before and len(before) == 1


_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
    st.lists(_TEXT, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(load_schema("interactions").header), _ANY, max_size=6))
def test_any_record_is_exported_clean_or_rejected_never_a_crash(overrides: dict[str, Any]) -> None:
    """Whatever an admin script writes, the row is either a clean CSV line or a reject with a reason."""
    converter = RowConverter(load_schema("interactions"), NOW)
    line = converter.convert(Snapshot("x", "ml_interactions/x", interaction(**overrides)))
    if line is None:
        [reject] = converter.rejects
        assert reject.reason and reject.reason != "unparseable", reject.detail
        return
    [cells] = read_csv(line.encode("utf-8"))
    assert [r.cell_problem(c) for c, r in zip(cells, rules("interactions"), strict=True)] == [None] * len(cells)


def test_whole_corpus_through_a_sharded_export_counts_and_quarantines_the_same(deps: ExportDeps) -> None:
    """Shards (duplicated deliveries included) quarantine the same records and merge the same counts."""
    sharded = replace(deps, publisher=RecordingPublisher(), count=StoreCounter(deps.docs), rows_per_run=20)
    seed(deps.docs, "ml_interactions", day_of_clicks(60))
    for index, case in enumerate(CASES):
        seed(deps.docs, case.collection, [(_doc_id(index), case.data)])
    assert run_export_event(DAY, sharded) is None  # fanned out
    assert isinstance(sharded.publisher, RecordingPublisher)
    for body in sharded.publisher.bodies * 2:
        _deliver(sharded, body)
    store = sharded.import_store
    assert isinstance(store, InMemoryObjectStore)
    manifest = json.loads(store.objects["manifests/dt=2026-11-28/manifest.json"])
    for dataset in ("interactions", "items", "users"):
        expected = Counter(
            c.expect.split(":")[1] for c in CASES if c.dataset == dataset and c.expect.startswith("quarantined")
        )
        assert manifest["datasets"][dataset]["rejected"] == dict(expected), dataset
    docs = deps.docs
    assert isinstance(docs, InMemoryDocumentStore)
    quarantined = [p for p in docs.docs if p.startswith("ml_quarantine/")]
    assert len(quarantined) == sum(1 for c in CASES if c.expect.startswith("quarantined"))


def test_exported_corpus_rows_parse_in_the_engines_importer(deps: ExportDeps) -> None:
    """The CSVs parse with each dataset's Avro schema in the local Personalize engine's importer."""
    schema = pytest.importorskip("infra.local.personalize.schema")
    for index, case in enumerate(CASES):
        seed(deps.docs, case.collection, [(_doc_id(index), case.data)])
    result = run_export(DAY, deps)
    for dataset in ("interactions", "items", "users"):
        [part] = next(d for d in result.datasets if d.dataset == dataset).files
        frame = schema.read_csv(
            deps.import_store.get_bytes(part.key), schema.parse_schema(load_schema(dataset).as_json())
        )
        assert len(frame) == sum(1 for c in CASES if c.dataset == dataset and c.expect.startswith("exported"))
