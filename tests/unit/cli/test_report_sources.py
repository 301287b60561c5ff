"""The report's real sources: solution versions from the decision history (S3 state), feeds from feeds/*."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from shared.adapters.counters import StoreCounter
from shared.adapters.memory import InMemoryDocumentStore, InMemoryObjectStore
from shared.config import Settings
from shared.personalize.state import StageState
from shared.report import gather_report_data, render_html
from shared.report.gather import solution_versions
from tests.unit.cli.conftest import GOOD, NOW, Fakes, P
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
        ("v5", "pending"),
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
    assert (data.feeds.users_total, data.feeds.users_with_feed, data.feeds.items_total) == (4, 2, 10)
    assert data.feeds.items_in_feeds == 3 and sorted(data.feeds.ages_hours) == [3.0, 5.0]
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
