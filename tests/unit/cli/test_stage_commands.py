"""``storyrec import|train|promote|bootstrap`` on in-memory ports: outputs, JSON, exit codes."""

from __future__ import annotations

import hashlib
import json

import pytest

from shared.personalize.model import Status
from shared.personalize.monitor import monitor
from tests.unit.cli.conftest import GOOD, Fakes, P

pytestmark = pytest.mark.unit


def _manifest(fakes: Fakes, day: str = "2026-11-28", rows: int = 2) -> str:
    body = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE\n" + b"u,i,1,read,,web\n" * rows
    part = f"interactions/dt={day}/part-00000.csv"
    fakes.bucket.put_bytes(part, body)
    manifest = {
        "format_version": "1",
        "run_id": f"export-{day}",
        "date": day,
        "datasets": {
            "interactions": {
                "import_mode": "INCREMENTAL",
                "schema_version": "1.0",
                "rows": rows,
                "files": [{"key": part, "rows": rows, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}],
            }
        },
    }
    key = f"manifests/dt={day}/manifest.json"
    fakes.bucket.put_bytes(key, json.dumps(manifest).encode())
    return key


def test_import_takes_the_latest_manifest_and_a_rerun_starts_nothing(fakes: Fakes) -> None:
    _manifest(fakes, "2026-11-27")
    latest = _manifest(fakes, "2026-11-28")
    result = fakes.run("import", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["manifest_key"] == latest and len(body["started"]) == 1
    again = json.loads(fakes.run("import", latest, "--json").stdout)
    assert again["started"] == [] and again["existing"] == body["started"]


def test_import_of_a_missing_or_bad_manifest_exits_1(fakes: Fakes) -> None:
    assert fakes.run("import").exit_code == 1  # no manifest at all
    assert fakes.run("import", "manifests/dt=2026-01-01/manifest.json").exit_code == 1
    fakes.bucket.put_bytes("manifests/dt=2026-01-02/manifest.json", b"{oops")
    result = fakes.run("import", "manifests/dt=2026-01-02/manifest.json")
    assert result.exit_code == 1 and "skipped" in result.output


def test_train_starts_both_versions_and_defers_while_imports_pend(fakes: Fakes) -> None:
    _manifest(fakes)
    assert fakes.run("import").exit_code == 0
    deferred = fakes.run("train", "--name", "run-1")
    assert deferred.exit_code == 1 and "deferred" in deferred.output
    for jobs in fakes.port.jobs.values():
        jobs[:] = [j.__class__(j.arn, j.name, Status.ACTIVE) for j in jobs]
    started = fakes.run("train", "--name", "run-1", "--json")
    assert started.exit_code == 0, started.output
    versions = json.loads(started.stdout)["versions"]
    assert set(versions) == {"main", "baseline"}
    assert json.loads(fakes.run("train", "--name", "run-1", "--json").stdout)["versions"]["main"] != ""


def _held(fakes: Fakes) -> str:
    main = fakes.run("train", "--name", "run-1", "--json")
    versions = json.loads(main.stdout)["versions"]
    fakes.port.set_version(versions["main"], Status.ACTIVE, GOOD)
    fakes.port.set_version(versions["baseline"], Status.ACTIVE, {P: 0.1})
    report = monitor(fakes.deps)  # manual mode: better, so held for an operator
    assert report.decision and report.decision["action"] == "hold"
    assert "storyrec promote --version " + versions["main"] in report.decision["promote_command"]
    return str(versions["main"])


def test_promote_serves_the_held_version_and_records_it(fakes: Fakes) -> None:
    version = _held(fakes)
    result = fakes.run("promote", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["version_arn"] == version and "created by hand" in body["outcome"]
    [campaign] = fakes.port.campaigns.values()
    assert campaign.solution_version_arn == version
    recorded = fakes.deps.state.decision_for(version)
    assert recorded and recorded["action"] == "promote" and recorded["reasons"][0].startswith("promoted by hand")
    assert recorded["metrics"]["candidate"][P] == GOOD[P] and recorded["metrics"]["baseline"][P] == 0.1
    again = fakes.run("promote", "--version", version)
    assert again.exit_code == 1 and "already serves" in again.output


def test_promote_refuses_what_is_not_sane(fakes: Fakes) -> None:
    assert fakes.run("promote").exit_code == 1  # nothing held
    assert fakes.run("promote", "--version", "not-an-arn").exit_code == 2
    run = json.loads(fakes.run("train", "--name", "r", "--json").stdout)["versions"]["main"]
    result = fakes.run("promote", "--version", run)  # still CREATE PENDING
    assert result.exit_code == 1 and "not ACTIVE" in result.output
    assert fakes.port.campaigns == {}


def test_promote_updates_an_existing_campaign(fakes: Fakes) -> None:
    first = _held(fakes)
    assert fakes.run("promote").exit_code == 0
    second = json.loads(fakes.run("train", "--name", "run-2", "--json").stdout)["versions"]["main"]
    fakes.port.set_version(second, Status.ACTIVE, {**GOOD, P: 0.2})  # worse: an operator may still choose it
    result = fakes.run("promote", "--version", second)
    assert result.exit_code == 0, result.output
    assert fakes.port.updates[-1][1] == second and first != second


def test_bootstrap_json_dry_run_then_apply_then_nothing(fakes: Fakes) -> None:
    dry = json.loads(fakes.run("bootstrap", "--dry-run", "--json").stdout)
    assert dry["dry_run"] and not dry["changed"] and fakes.port.arns == {}
    assert fakes.run("bootstrap").exit_code == 0
    second = fakes.run("bootstrap")
    assert second.exit_code == 0 and "nothing changed" in second.output


def test_bootstrap_config_errors_exit_2(fakes: Fakes, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("STORYREC_PERSONALIZE_CAMPAIGN", "other")
    result = fakes.run("bootstrap", "--dry-run")
    assert result.exit_code == 2 and "STORYREC_PERSONALIZE_CAMPAIGN" in result.output
    monkeypatch.delenv("STORYREC_GCP_PROJECT")
    assert fakes.run("bootstrap").exit_code == 2
