"""The report's counts through Firestore's count() on the official emulator, and the CLI end to end."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.local.firebase.emulators import firestore_with_rules
from shared.adapters.counters import FirestoreCounter, StoreCounter
from shared.adapters.firestore import FirestoreDocumentStore
from shared.cli import app
from shared.config import Settings
from shared.ports import Write
from shared.report import gather_report_data
from shared.wiring import firestore_client

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
PROJECT = "demo-report"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with firestore_with_rules(REPO / "firestore.rules", tmp_path_factory.mktemp("fs")) as host:
        yield host


@pytest.fixture
def settings(emulator: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator)
    monkeypatch.setenv("STORYREC_GCP_PROJECT", PROJECT)
    return Settings.from_env({"STORYREC_GCP_PROJECT": PROJECT})


def _seed(store: FirestoreDocumentStore, today: date) -> int:
    start = int(datetime.combine(today - timedelta(days=4), datetime.min.time(), UTC).timestamp())
    types = ("open", "read", "like", "save", "comment", "open", "open")
    writes = [
        Write(f"ml_interactions/c{i}", data={"EVENT_TYPE": types[i % 7], "TIMESTAMP": start + i * 997, "USER_ID": "u"})
        for i in range(400)
    ]
    reasons = ["unknown_type"] * 5 + ["unknown_story"] * 2 + ["csv_hostile", "from_the_future"]
    writes += [Write(f"ml_quarantine/clicks-q{i}", data={"reason": r}) for i, r in enumerate(reasons)]
    return store.write_batch(writes)


def test_firestore_count_agrees_with_reading_the_documents(settings: Settings, tmp_path: Path) -> None:
    client = firestore_client(settings)
    store = FirestoreDocumentStore(client)
    now = datetime.now(UTC)
    _seed(store, now.date())
    empty = tmp_path / "no-exports"
    empty.mkdir()
    from shared.adapters.folder import FolderExport

    counted = gather_report_data(settings, FirestoreCounter(client), FolderExport(empty), now, days=7)
    read = gather_report_data(settings, StoreCounter(store), FolderExport(empty), now, days=7)
    assert counted.interactions_per_day == read.interactions_per_day
    assert sum(c.count for c in counted.interactions_per_day or ()) == 400
    assert counted.quarantine == read.quarantine
    assert dict((q.reason, q.count) for q in counted.quarantine or ()) == {
        "unknown_type": 5,
        "unknown_story": 2,
        "csv_hostile": 1,
        "other": 1,
    }
    assert counted.exports == ()

    page = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--out", str(page), "--days", "7", "--exports-dir", str(empty)])
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    # feeds are drawn from feeds/* (none yet: zero coverage of the users counted)
    assert set(re.findall(r'data-plot="([^"]+)"', text)) == {"interactions-per-day", "quarantine-reasons", "feeds"}
    # exports (none yet); solution versions, online test, imports, alerts (no AWS here)
    assert text.count('data-empty="true"') == 5
