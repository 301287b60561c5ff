"""``storyrec export --history``: the first load of history from the CLI, over in-memory fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

import shared.export.wiring
from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.cli import app
from shared.export import ExportDeps
from tests.unit.export.factories import item, seed, user
from tests.unit.export.history_scenario import BOUNDARY, HISTORY_AT, backfilled

pytestmark = pytest.mark.unit


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> ExportDeps:
    monkeypatch.setenv("STORYREC_GCP_PROJECT", "p")
    built = ExportDeps(
        docs=InMemoryDocumentStore(),
        import_store=InMemoryObjectStore("import"),
        backup_store=InMemoryObjectStore("backup"),
        notifier=RecordingNotifier(),
        metrics=RecordingMetrics(),
        clock=lambda: HISTORY_AT,
    )

    def connect(*_: Any, **__: Any) -> ExportDeps:
        return built

    monkeypatch.setattr(shared.export.wiring, "connect", connect)
    monkeypatch.setattr(shared.export.wiring, "utc_now", lambda: HISTORY_AT)
    return built


def test_history_takes_no_date(deps: ExportDeps) -> None:
    result = CliRunner().invoke(app, ["export", "--history", "--date", "2026-11-28"])
    assert result.exit_code == 2 and "--history exports everything captured so far" in result.output


def test_history_prints_where_the_daily_exports_start(deps: ExportDeps) -> None:
    seed(deps.docs, "ml_interactions", [backfilled(i) for i in range(40)])
    seed(deps.docs, "ml_items", [item("s1")])
    seed(deps.docs, "ml_users", [user("u1")])
    result = CliRunner().invoke(app, ["export", "--history"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["daily_exports_start_at"] == BOUNDARY.isoformat()
    assert summary["manifest"] == "manifests/dt=2026-11-28/manifest.json" and summary["rows"]["interactions"] == 40
    again = CliRunner().invoke(app, ["export", "--history"])  # a rerun: the same export
    assert again.exit_code == 0 and json.loads(again.stdout)["run_id"] == summary["run_id"]


def test_an_empty_history_says_to_backfill_first(deps: ExportDeps) -> None:
    result = CliRunner().invoke(app, ["export", "--history"])
    assert result.exit_code == 3 and "run `storyrec backfill all` first" in result.output
    assert "Traceback" not in result.output


def test_after_the_daily_exports_started_history_is_refused_in_one_line(deps: ExportDeps) -> None:
    deps.docs.set("ml_state/export", {"watermark": BOUNDARY})
    result = CliRunner().invoke(app, ["export", "--history"])
    assert result.exit_code == 2 and result.output.startswith("history not exported: the daily export has already run")
    assert deps.import_store.list("") == []
