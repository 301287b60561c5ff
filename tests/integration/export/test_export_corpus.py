"""The export corpus (tests/corpus/export_cases.py) written straight into the ML collections of the Firestore
emulator, as an admin script would, then the real export to moto S3 and the GCS emulator: every bad record
quarantined with its reason (and counted in the manifest and the metric), every good one exported, each CSV
parsing with its schema."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from shared.capture.quarantine import quarantine_id
from shared.config import Settings
from shared.export import ExportDeps, run_export
from shared.limits import rules
from shared.schema import load_schema
from tests.corpus.export_cases import CASES
from tests.unit.export.factories import DAY, read_csv, seed

pytestmark = pytest.mark.integration


def _doc_id(index: int) -> str:
    return f"admin-{index:03d}"


def _rejected_metric(settings: Settings, dataset: str) -> float:
    from datetime import UTC, datetime, timedelta

    from shared import wiring

    cw = wiring.aws_client("cloudwatch", settings)
    now = datetime.now(UTC)
    stats = cw.get_metric_statistics(
        Namespace=settings.metrics_namespace,
        MetricName="ExportRejectedRows",
        Dimensions=[{"Name": "Dataset", "Value": dataset}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=3600,
        Statistics=["Sum"],
    )
    return sum(p["Sum"] for p in stats["Datapoints"])


def test_hostile_ml_records_are_quarantined_and_the_rest_exported(export_deps: ExportDeps, settings: Settings) -> None:
    for index, case in enumerate(CASES):
        seed(export_deps.docs, case.collection, [(_doc_id(index), case.data)])

    result = run_export(DAY, export_deps)

    s3: dict[str, bytes] = {o.key: export_deps.import_store.get_bytes(o.key) for o in export_deps.import_store.list("")}
    manifest = json.loads(s3[result.manifest_key])
    for dataset in ("interactions", "items", "users"):
        cases = [c for c in CASES if c.dataset == dataset]
        good = [c for c in cases if c.expect.startswith("exported")]
        expected = Counter(c.expect.split(":")[1] for c in cases if c.expect.startswith("quarantined"))
        assert manifest["datasets"][dataset]["rejected"] == dict(expected), dataset
        [key] = [k for k in s3 if k.startswith(f"{dataset}/")]
        table = read_csv(s3[key])
        assert table[0] == load_schema(dataset).header and len(table) == len(good) + 1
        for row in table[1:]:
            assert [r.cell_problem(c) for c, r in zip(row, rules(dataset), strict=True)] == [None] * len(row)
        assert _rejected_metric(settings, dataset) == sum(expected.values())

    for index, case in enumerate(CASES):
        record: dict[str, Any] | None = export_deps.docs.get(
            f"ml_quarantine/{quarantine_id(case.collection, _doc_id(index))}"
        )
        if case.expect.startswith("quarantined"):
            assert record is not None and record["reason"] == case.expect.split(":")[1], case.name
            assert record["stage"] == "export" and record["raw_sha256"]
        else:
            assert record is None, case.name
