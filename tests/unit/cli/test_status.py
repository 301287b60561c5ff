"""``storyrec status`` and its gathering on in-memory ports: every section, JSON, exit codes, a dead source."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from shared.adapters.counters import StoreCounter
from shared.adapters.memory import InMemoryDocumentStore
from shared.errors import ServiceUnavailable
from shared.operate.status import feeds_status, gather_status
from shared.personalize.model import Status
from shared.personalize.monitor import monitor
from tests.unit.cli.conftest import GOOD, NOW, Fakes, P
from tests.unit.cli.test_stage_commands import _manifest

pytestmark = pytest.mark.unit


def _pipeline(fakes: Fakes) -> dict[str, str]:
    _manifest(fakes, "2026-11-28", rows=3)
    assert fakes.run("import").exit_code == 0
    versions: dict[str, str] = json.loads(fakes.run("train", "--name", "r1", "--json").stdout or "{}").get(
        "versions", {}
    )
    return versions


def test_a_fresh_account_is_empty_but_healthy(fakes: Fakes) -> None:
    result = fakes.run("status", "--json", "--no-firestore")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["last_export"] is None and body["campaign"] is None and body["versions"] == []
    assert body["healthy"] and body["problems"] == [] and body["feeds"] is None


def test_every_section_is_filled_from_its_source(fakes: Fakes) -> None:
    _pipeline(fakes)
    status = gather_status(fakes.deps)
    assert status.last_export and status.last_export.rows == {"interactions": 3}
    assert status.imports and len(status.imports.pending) == 1 and status.imports.pending[0].dataset == "interactions"
    assert status.training_request == "r1"  # deferred while the import pends
    for jobs in fakes.port.jobs.values():
        jobs[:] = [j.__class__(j.arn, j.name, Status.ACTIVE) for j in jobs]
    versions = json.loads(fakes.run("train", "--name", "r1", "--json").stdout)["versions"]
    fakes.port.set_version(versions["main"], Status.ACTIVE, GOOD)
    fakes.port.set_version(versions["baseline"], Status.ACTIVE, {P: 0.1})
    monitor(fakes.deps)  # manual mode: held (recorded, reported once)
    assert fakes.run("promote").exit_code == 0

    docs = InMemoryDocumentStore()
    docs.set("feeds/u1", {"generatedAt": NOW - timedelta(hours=2), "kind": "personalized", "storyIds": ["a", "b"]})
    docs.set(
        "feeds/u2", {"generatedAt": NOW - timedelta(hours=30), "kind": "popular", "stale": True, "storyIds": ["a"]}
    )
    docs.set("ml_quarantine/q1", {"reason": "not_in_vocabulary"})
    docs.set("ml_quarantine/q2", {"reason": "not_in_vocabulary"})
    status = gather_status(fakes.deps, docs=docs, counter=StoreCounter(docs))
    assert status.training_request is None and status.imports and status.imports.pending == []
    by_arn = {v.arn: v for v in status.versions or []}
    assert by_arn[versions["main"]].metrics == GOOD and by_arn[versions["main"]].decision == "promote"
    assert by_arn[versions["baseline"]].solution == "baseline"
    assert status.campaign and status.campaign.solution_version_arn == versions["main"]
    assert status.feeds and status.feeds.feeds == 2 and status.feeds.stale == 1
    assert status.feeds.oldest_hours == pytest.approx(30) and status.feeds.by_kind == {"personalized": 1, "popular": 1}
    assert status.quarantine == {"not_in_vocabulary": 2}
    assert status.alerts and any("hold" in a.subject for a in status.alerts)
    assert status.healthy and status.decisions and status.decisions[-1]["action"] == "promote"
    table = fakes.run("status", "--no-firestore")
    assert table.exit_code == 0 and "campaign" in table.output and "healthy" in table.output


def test_a_dead_source_is_named_and_the_rest_still_shows(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    _pipeline(fakes)

    def dead(*_: Any, **__: Any) -> Any:
        raise ServiceUnavailable("Personalize unreachable")

    monkeypatch.setattr(fakes.port, "find_arn", dead)
    result = fakes.run("status", "--json", "--no-firestore")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["last_export"]["run_id"] == "export-2026-11-28"  # S3 still read
    assert body["imports"] is None and any("Personalize unreachable" in p for p in body["problems"])


def test_a_failed_import_makes_status_exit_1(fakes: Fakes) -> None:
    _pipeline(fakes)
    for jobs in fakes.port.jobs.values():
        jobs[:] = [j.__class__(j.arn, j.name, Status.CREATE_FAILED, None, "bad TIMESTAMP") for j in jobs]
    result = fakes.run("status", "--no-firestore")
    assert result.exit_code == 1 and "bad TIMESTAMP" in result.output


def test_feed_ages_accept_iso_strings_and_skip_missing_times() -> None:
    status = feeds_status([{"generatedAt": "2026-12-01T02:00:00Z"}, {"kind": "popular"}], NOW)
    assert status.feeds == 2 and status.median_hours == pytest.approx(2) and status.by_kind["unknown"] == 1


def test_stale_feeds_keep_their_ages_apart() -> None:
    docs = [
        {"generatedAt": "2026-12-01T02:00:00Z", "stale": True},
        {"generatedAt": "2026-12-01T03:00:00Z"},
        {"stale": True},  # stale without a time: counted, no age to give
    ]
    status = feeds_status(docs, NOW)
    assert status.stale == 2 and status.stale_ages_hours == (pytest.approx(2),)
    assert sorted(status.ages_hours) == [pytest.approx(1), pytest.approx(2)]


def test_only_the_newest_failure_alarms(fakes: Fakes) -> None:
    _manifest(fakes, "2026-11-27")
    assert fakes.run("import").exit_code == 0
    for jobs in fakes.port.jobs.values():
        jobs[:] = [j.__class__(j.arn, j.name, Status.CREATE_FAILED, NOW - timedelta(days=1), "old") for j in jobs]
    _manifest(fakes, "2026-11-28")
    assert fakes.run("import").exit_code == 0
    for jobs in fakes.port.jobs.values():
        if jobs:
            jobs[-1] = jobs[-1].__class__(jobs[-1].arn, jobs[-1].name, Status.ACTIVE, NOW)
    result = fakes.run("status", "--json", "--no-firestore")
    body = json.loads(result.stdout)
    assert result.exit_code == 0 and body["healthy"] and len(body["imports"]["failed"]) == 1


def test_status_shows_the_online_test_arms_exposure_and_lift(fakes: Fakes) -> None:
    from infra.local.readers import Readers, personalised, popular, run_test
    from shared.experiment.assign import experiment_for
    from shared.experiment.verdict import judge

    champion = "arn:aws:personalize:us-east-1:1:solution/s/champ"
    challenger = "arn:aws:personalize:us-east-1:1:solution/s/cand"
    test = experiment_for(champion, challenger, 0.05, 0.2)
    policies = {"champion": personalised(1.0), "challenger": personalised(0.3), "control": popular}
    rows = [r for day in run_test(Readers(3000, seed=1), test, policies, 8, 1) for r in day]
    verdict = judge(test, rows, fakes.deps.settings.experiment)
    fakes.deps.state.start_test(champion, challenger)
    fakes.deps.state.record_look(test.experiment_id or "", {**verdict.as_record(), "looked_at": NOW.isoformat()})
    docs = InMemoryDocumentStore()
    docs.set("feeds/u1", {"generatedAt": NOW, "kind": "personalized", "arm": "challenger"})
    docs.set("feeds/u2", {"generatedAt": NOW, "kind": "popular", "arm": "control"})
    status = gather_status(fakes.deps, docs=docs)
    assert status.current_test and status.current_test["challenger"] == challenger
    assert status.tests and status.tests[0]["experiment_id"] == "test-cand-vs-champ"
    assert status.feeds and status.feeds.by_arm == {"challenger": 1, "control": 1}
    out = fakes.run("status", "--no-firestore").output
    assert "challenger cand vs champion champ" in out and "Test test-cand-vs-champ" in out
    assert "challenger vs champion, clicks_per_user" in out and "always-valid" in out and "control" in out
    body = json.loads(fakes.run("status", "--json", "--no-firestore").stdout)
    assert body["tests"][0]["lifts"] and body["current_test"]["champion"] == champion
