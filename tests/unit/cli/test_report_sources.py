"""The report's real sources: solution versions from the decision history (S3 state), feeds from feeds/*."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from shared.adapters.counters import StoreCounter
from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore
from shared.config import Settings
from shared.personalize.model import Status
from shared.personalize.state import StageState
from shared.report import gather_report_data, render_html
from shared.report.gather import solution_versions
from tests.unit.cli.conftest import GOOD, NOW, Fakes, P
from tests.unit.cli.test_stage_commands import _held
from tests.unit.ops.test_report import _plots

pytestmark = pytest.mark.unit


def _items(*story_ids: str) -> str:
    """A feed's ``itemsJson`` holding these stories."""
    return json.dumps([{"storyId": sid} for sid in story_ids])


def _decided(action: str, n: int, outcome: str = "", **metrics: float) -> dict[str, Any]:
    return {
        "decided_at": (NOW + timedelta(days=n)).isoformat(),
        "action": action,
        "outcome": outcome or action,
        "reasons": [f"reason {n}"],
        "candidate": f"arn:aws:personalize:us-east-1:1:solution/s/v{n}",
        "metrics": {"candidate": {P: 0.1 * n, **metrics}, "serving": None, "baseline": None},
    }


def test_decisions_become_points_with_the_serving_one_marked() -> None:
    history = [
        _decided("promote", 1),
        _decided("keep", 2),
        _decided("promote", 3),
        _decided("promote", 4, outcome="update failed: ResourceInUse"),
        _decided("hold", 5),
    ]
    points = solution_versions(history)
    assert [(p.name, p.decision) for p in points] == [
        ("v1", "promoted"),
        ("v2", "kept"),
        ("v3", "serving"),
        ("v4", "failed"),
        ("v5", "held"),
    ]
    assert points[2].metrics[P] == pytest.approx(0.3) and points[0].reason == "reason 1"


def test_the_report_draws_versions_from_a_real_monitor_pass_and_feeds_from_firestore(fakes: Fakes) -> None:
    from tests.unit.cli.test_stage_commands import _held

    _held(fakes)
    assert fakes.run("promote").exit_code == 0
    docs = InMemoryDocumentStore()
    for u in range(4):
        docs.set(f"ml_users/u{u}", {"USER_ID": f"u{u}"})
    for i in range(10):
        docs.set(f"ml_items/s{i}", {"ITEM_ID": f"s{i}"})
    docs.set(
        "feeds/u0", {"generatedAt": NOW - timedelta(hours=3), "kind": "personalized", "itemsJson": _items("s1", "s2")}
    )
    docs.set("feeds/u1", {"generatedAt": NOW - timedelta(hours=5), "kind": "popular", "itemsJson": _items("s2", "s3")})
    docs.set(
        "feeds/u2",
        {"generatedAt": NOW - timedelta(hours=30), "kind": "personalized", "stale": True, "itemsJson": _items("s3")},
    )
    data = gather_report_data(
        fakes.deps.settings,
        StoreCounter(docs),
        InMemoryObjectStore(),
        NOW,
        days=3,
        state=fakes.deps.state,
        feeds=docs,
    )
    [version] = data.solution_versions or ()
    assert version.decision == "serving" and version.metrics[P] == GOOD[P] and "by hand" in version.reason
    assert data.feeds is not None
    assert (data.feeds.users_total, data.feeds.users_with_feed, data.feeds.items_total) == (4, 3, 10)
    assert data.feeds.items_in_feeds == 3 and sorted(data.feeds.ages_hours) == [3.0, 5.0, 30.0]
    assert data.feeds.stale_ages_hours == (30.0,)
    assert data.feeds.active_days == fakes.deps.settings.recommend.active_days
    assert {"solution-metrics", "feeds"} <= _plots(render_html(data))


def test_an_unreadable_history_leaves_the_section_empty_with_a_note() -> None:
    class Dead(InMemoryObjectStore):
        def list(self, prefix: str = "") -> Any:
            raise ConnectionError("S3 unreachable")

    settings = Settings(gcp_project="p")
    docs = InMemoryDocumentStore()
    data = gather_report_data(
        settings, StoreCounter(docs), InMemoryObjectStore(), NOW, state=StageState(Dead(), "s/", lambda: NOW)
    )
    assert data.solution_versions is None and any("S3 unreachable" in n for n in data.notes)


def _gather(fakes: Fakes, **kw: Any) -> Any:
    docs = InMemoryDocumentStore()
    return gather_report_data(fakes.deps.settings, StoreCounter(docs), InMemoryObjectStore(), NOW, days=3, **kw)


def test_the_version_the_campaign_serves_is_serving_however_it_got_there(fakes: Fakes) -> None:
    """Held, then deployed without `storyrec promote` (the simulation's operator, a console click): the
    decision history still says hold, the campaign says it serves."""
    version = _held(fakes)
    p = fakes.deps.settings.personalize
    fakes.port.ensure_campaign(p.campaign, version, p.min_campaign_tps)
    data = _gather(fakes, stage=fakes.deps)
    [shown] = data.solution_versions or ()
    assert (shown.decision, shown.metrics[P]) == ("serving", GOOD[P])
    page = render_html(data)
    assert f"serving version<b>{version.rsplit('/', 1)[-1]}</b>" in page
    assert ">held<" not in page and ">pending<" not in page


def test_a_held_version_nobody_deployed_is_held_not_serving(fakes: Fakes) -> None:
    _held(fakes)
    data = _gather(fakes, stage=fakes.deps)
    assert [v.decision for v in data.solution_versions or ()] == ["held"]
    assert "serving version<b>none</b>" in render_html(data)


def test_a_training_whose_versions_failed_is_shown_failed_with_its_reason(fakes: Fakes) -> None:
    versions = json.loads(fakes.run("train", "--name", "run-1", "--json").stdout)["versions"]
    fakes.port.set_version(versions["main"], Status.CREATE_FAILED, reason="not enough interactions")
    fakes.port.set_version(versions["baseline"], Status.CREATE_FAILED, reason="not enough interactions")
    data = _gather(fakes, stage=fakes.deps)
    [shown] = data.solution_versions or ()  # the main solution's: the baseline's is no candidate
    assert (shown.decision, shown.reason, shown.metrics) == ("failed", "not enough interactions", {})
    page = render_html(data)
    section = page.split('data-section="solutions"')[1].split("</section>")[0]
    assert "No data yet" not in section and "not enough interactions" in section


def test_a_version_still_training_is_shown_training(fakes: Fakes) -> None:
    fakes.run("train", "--name", "run-1", "--json")
    data = _gather(fakes, stage=fakes.deps)
    assert [v.decision for v in data.solution_versions or ()] == ["training"]


def test_imports_and_alerts_come_from_the_stage(fakes: Fakes) -> None:
    from shared.personalize.model import ImportJob

    group = fakes.port.ensure_dataset_group(fakes.deps.settings.personalize.dataset_group)
    arn = fakes.port.ensure_dataset(group, "interactions", "schema", "storyrec-interactions")
    fakes.port.jobs[arn] += [
        ImportJob("a1", "imp-1", Status.ACTIVE, NOW - timedelta(days=1)),
        ImportJob("a2", "imp-2", Status.CREATE_FAILED, NOW, "bad csv"),
    ]
    fakes.deps.state.alert_once(fakes.notifier, "k1", "storyrec import failed", "body")
    data = _gather(fakes, stage=fakes.deps)
    assert sorted((i.day.isoformat(), i.dataset, i.status) for i in data.imports or ()) == [
        ("2026-11-30", "interactions", "ACTIVE"),
        ("2026-12-01", "interactions", "CREATE FAILED"),
    ]
    assert [(a.subject, a.sent_at) for a in data.alerts or ()] == [("storyrec import failed", NOW)]
    page = render_html(data)
    assert 'data-plot="imports-per-day"' in page and "storyrec import failed" in page


def test_days_come_from_the_product_s_names_not_the_engine_s_clock(fakes: Fakes) -> None:
    """The local engine stamps jobs and versions with its wall clock while a simulation's clock is virtual:
    an import is dated by the export day its name carries, a failed training by its run's name."""
    from shared.personalize.model import ImportJob
    from shared.personalize.names import import_job_name

    versions = json.loads(fakes.run("train", "--name", "storyrec-20261101", "--json").stdout)["versions"]
    fakes.port.set_version(versions["main"], Status.CREATE_FAILED, reason="no data")
    group = fakes.port.ensure_dataset_group(fakes.deps.settings.personalize.dataset_group)
    arn = fakes.port.ensure_dataset(group, "users", "schema", "storyrec-users")
    name = import_job_name("users", date(2026, 10, 30), "run", arn, 0)
    fakes.port.jobs[arn].append(ImportJob("a1", name, Status.ACTIVE, NOW))  # the engine's "now"
    data = _gather(fakes, stage=fakes.deps)
    [version] = data.solution_versions or ()
    assert version.created.date() == date(2026, 11, 1)
    assert [(i.day, i.dataset) for i in data.imports or ()] == [(date(2026, 10, 30), "users")]


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("storyrec-20261101", date(2026, 11, 1)),
        ("storyrec-manual-202612051403", date(2026, 12, 5)),
        ("run-1", None),
        ("storyrec-20261399", None),
        (None, None),
    ],
)
def test_training_day_reads_the_day_training_names_carry(name: str | None, day: date | None) -> None:
    from shared.personalize.names import training_day, training_name

    assert training_day(name) == day
    assert training_day(training_name("storyrec", "20260704")) == date(2026, 7, 4)
