"""``storyrec train`` refuses what Personalize cannot train, before creating anything; a rerun never lies."""

from __future__ import annotations

import json

import pytest

import shared.cli.stage
from shared.personalize.model import Status
from shared.personalize.training import MIN_INTERACTIONS, MIN_USERS, training_data_problem
from tests.unit.cli.conftest import Fakes

pytestmark = pytest.mark.unit


def _export(fakes: Fakes, day: str, users: int, per_user: int) -> None:
    rows = [f"u{u},i{k},{k},read,,web" for u in range(users) for k in range(per_user)]
    body = ("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE\n" + "\n".join(rows) + "\n").encode()
    part = f"interactions/dt={day}/part-00000.csv"
    fakes.bucket.put_bytes(part, body)
    files = [{"key": part, "rows": len(rows), "bytes": len(body)}]
    manifest = {
        "format_version": "1",
        "run_id": f"export-{day}",
        "date": day,
        "datasets": {"interactions": {"import_mode": "INCREMENTAL", "rows": len(rows), "files": files}},
    }
    fakes.bucket.put_bytes(f"manifests/dt={day}/manifest.json", json.dumps(manifest).encode())


@pytest.fixture
def real(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    monkeypatch.setattr(shared.cli.stage, "training_data_problem", training_data_problem)
    return fakes


@pytest.mark.parametrize(
    ("users", "per_user", "reason"),
    [(0, 0, "too few interactions"), (30, 10, "too few interactions"), (10, 200, "too few users")],
)
def test_train_refuses_below_the_minimums_and_creates_nothing(
    real: Fakes, users: int, per_user: int, reason: str
) -> None:
    if users:
        _export(real, "2026-11-28", users, per_user)
    result = real.run("train")
    assert result.exit_code == 1
    assert reason in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2
    assert real.port.versions == {}  # no solution, no version created


def test_enough_users_across_days_train(real: Fakes) -> None:
    _export(real, "2026-11-27", MIN_USERS, 2)
    _export(real, "2026-11-28", 10, MIN_INTERACTIONS // 10)
    assert training_data_problem(real.deps) is None


def test_a_rerun_reports_the_failed_versions_it_re_found(fakes: Fakes) -> None:
    first = fakes.run("train", "--name", "run-1", "--json")
    assert first.exit_code == 0, first.output
    versions = json.loads(first.stdout)["versions"]
    fakes.port.set_version(versions["main"], Status.CREATE_FAILED, {})
    port = fakes.port  # the real adapter re-finds a version by name, as Personalize's names are unique
    port.create_solution_version = lambda sol, name, mode="FULL": next(  # type: ignore[method-assign]
        v.arn for v in port.versions[sol] if v.name == name
    )
    again = fakes.run("train", "--name", "run-1")
    assert again.exit_code == 1
    assert "FAILED" in again.output and "failed" in again.output.splitlines()[-1]
