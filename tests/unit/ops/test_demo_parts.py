"""The demo's pieces that need no stack: the REST values, the clients' writes, the summary and the polls."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from infra.local.demo.client import ClientWrite, click_write, firestore_value, hostile_clicks
from infra.local.demo.context import DemoContext
from infra.local.demo.data import Click, DemoData
from infra.local.demo.feeds import showcase
from infra.local.demo.gcp_steps import _send_sessions, _sessions
from infra.local.demo.summary import summary_tables
from shared.config import Settings

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _data() -> DemoData:
    stories = {f"s{i}": {"title": f"Story {i}"} for i in range(4)}
    clicks = [
        Click("u1", "s0", "open", 1, "a"),
        Click("u1", "s1", "read", 2, "a", "web", 40.0),
        Click("u1", "s2", "follow", 3, "a"),
        Click("u2", "s3", "like", 4, "b"),
        Click("u1", "s3", "open", 5, "c"),
    ]
    return DemoData("test", stories, {"u1": {"lang": "en"}, "u2": {"lang": "pt"}}, clicks)


def test_firestore_values_follow_the_rest_encoding() -> None:
    assert firestore_value(3) == {"integerValue": "3"} and firestore_value(True) == {"booleanValue": True}
    assert firestore_value(NOW) == {"timestampValue": "2026-12-01T12:00:00Z"}
    assert firestore_value({"a": [1.5, None]}) == {
        "mapValue": {"fields": {"a": {"arrayValue": {"values": [{"doubleValue": 1.5}, {"nullValue": None}]}}}}
    }
    with pytest.raises(TypeError):
        firestore_value(object())


def test_a_click_leaves_created_at_to_the_server_unless_it_forges_one() -> None:
    click = Click("u1", "s1", "read", 0, "a", "web", 40.0)
    honest = click_write(click, "c1", NOW)
    assert honest.path == "clicks/c1" and honest.server_time == ("createdAt",)
    assert honest.data["value"] == 40.0 and "createdAt" not in honest.data
    forged = click_write(click, "c2", NOW, createdAt=NOW - timedelta(days=30))
    assert forged.server_time == () and forged.data["createdAt"] == NOW - timedelta(days=30)


def test_hostile_writes_name_their_kind_and_two_clicks_go_to_quarantine() -> None:
    refused, quarantined = hostile_clicks(_data(), NOW)
    kinds = {w.path.removeprefix("clicks/hostile-") for _, w in refused}
    assert kinds == {"signed-out", "impersonation", "type", "csv", "backdated", "extra-field"}
    assert refused[0][0] is None and len(quarantined) == 2


class _Rules:
    """A RulesClient that refuses ``follow`` clicks, as firestore.rules does."""

    def __init__(self) -> None:
        self.commits: list[tuple[str | None, int]] = []

    def commit(self, uid: str | None, writes: Sequence[ClientWrite]) -> tuple[bool, str]:
        self.commits.append((uid, len(writes)))
        return all(w.data.get("type") != "follow" for w in writes), "PERMISSION_DENIED"


def test_one_commit_per_session_and_follow_clicks_refused_one_by_one() -> None:
    rules = _Rules()
    refused: Counter[str] = Counter()
    sessions = _sessions(_data().clicks)
    accepted = _send_sessions(rules, sessions, refused)  # type: ignore[arg-type]
    assert list(sessions) == [("u1", "a"), ("u2", "b"), ("u1", "c")]
    assert accepted == 4 and refused == {"follow": 1}
    assert rules.commits == [("u1", 1), ("u1", 2), ("u2", 1), ("u1", 1)]


def test_the_showcase_puts_the_most_active_personalized_reader_beside_their_feed() -> None:
    items = [{"storyId": "s2"}, {"storyId": "s3", "title": "New"}]
    feeds = {"u1": {"kind": "personalized", "itemsJson": json.dumps(items)}}
    show = showcase(_data(), feeds)
    assert show == {"user": "u1", "reads": ["Story 3", "Story 2", "Story 1", "Story 0"], "feed": ["Story 2", "New"]}
    assert showcase(_data(), {"u1": {"kind": "popular"}}) is None


def test_the_summary_shows_only_what_the_run_learnt(tmp_path: Path) -> None:
    ctx = DemoContext(Settings.from_env({"STORYREC_GCP_PROJECT": "p"}), {}, Console(), tmp_path, _data())
    ctx.facts.update(stories=4, users=2, exported={"items": 4}, quarantine_reasons={"unknown_story": 2})
    titles = [t.title for t in summary_tables(ctx)]
    assert titles == ["counts per stage", "quarantined by capture"]
    assert summary_tables(ctx)[0].row_count == 3
