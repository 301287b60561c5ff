"""The demo's pieces that need no stack: the REST values, the clients' writes, the summary and the polls."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from infra.local.demo.client import ClientWrite, click_write, commit_seconds, firestore_value, hostile_clicks
from infra.local.demo.context import DemoContext
from infra.local.demo.data import Click, DemoData, generated_data
from infra.local.demo.feeds import showcase
from infra.local.demo.gcp_steps import _send_sessions, _sessions, replay_plan
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
    """A RulesClient that refuses ``follow`` clicks, as firestore.rules does, on a server that takes
    ``latency(rng)`` seconds of its clock per commit, one commit at a time (``clock`` and ``sleep`` are the
    replay's), and stamps a commit with its clock when it is done."""

    def __init__(self, t: float = 0.0, latency: Callable[[random.Random], float] = lambda _: 0.0, seed: int = 0):
        self.commits: list[tuple[str | None, int]] = []
        self.stamps: dict[str, float] = {}  # click id -> the server time it was stamped with
        self.t, self.latency, self.rng = t, latency, random.Random(seed)
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.t += seconds

    def commit(self, uid: str | None, writes: Sequence[ClientWrite]) -> tuple[bool, str]:
        ok, why, _ = self.commit_timed(uid, writes)
        return ok, why

    def commit_timed(self, uid: str | None, writes: Sequence[ClientWrite]) -> tuple[bool, str, float | None]:
        with self.lock:
            self.commits.append((uid, len(writes)))
            if not all(w.data.get("type") != "follow" for w in writes):
                return False, "PERMISSION_DENIED", None
            self.t += self.latency(self.rng)
            self.stamps.update({w.path: self.t for w in writes})
            return True, "", self.t


def _replay(
    rules: _Rules, data: DemoData, origin: int, per_second: int = 8, refused: Counter[str] | None = None
) -> tuple[int, int]:
    refused = Counter() if refused is None else refused
    replay = _send_sessions(
        rules,  # type: ignore[arg-type]
        _sessions(data.clicks),
        refused,
        origin,
        per_second=per_second,
        clock=rules.clock,
        sleep=rules.sleep,
    )
    return replay.accepted, replay.late


def test_one_commit_per_session_and_follow_clicks_refused_one_by_one() -> None:
    rules = _Rules(t=99.5)
    sessions = _sessions(_data().clicks)
    assert list(sessions) == [("u1", "a"), ("u2", "b"), ("u1", "c")]
    refused: Counter[str] = Counter()
    assert _replay(rules, _data(), origin=100, refused=refused) == (4, 0)
    assert refused == {"follow": 1}
    assert rules.commits == [("u1", 1), ("u1", 2), ("u2", 1), ("u1", 1)]
    # the follow click (demo-0) refused; u1's two sessions in seconds of their own, u2's beside u1's first
    assert {k: int(t) for k, t in rules.stamps.items()} == {
        "clicks/demo-1": 100,
        "clicks/demo-2": 100,
        "clicks/demo-3": 100,
        "clicks/demo-4": 101,
    }


def test_the_replay_plan_keeps_each_readers_order_in_seconds_of_their_own_at_a_bounded_pace() -> None:
    rng = random.Random(5)
    sessions = [(f"u{rng.randrange(12)}", f"s{n}") for n in range(300)]
    plan = replay_plan(sessions, per_second=4)
    assert [k for second in plan for k in second] != [] and sorted(k for sec in plan for k in sec) == sorted(sessions)
    assert all(len(second) <= 4 for second in plan) and all(plan)
    seconds = {k: s for s, second in enumerate(plan) for k in second}
    for uid in {u for u, _ in sessions}:
        mine = [seconds[k] for k in sessions if k[0] == uid]
        assert mine == sorted(set(mine))  # in order, never two in one second
    assert replay_plan(sessions, per_second=4) == plan  # fixed by the data alone


def _generated() -> DemoData:
    return generated_data(NOW, users=40, stories=60, interactions=400)


def test_two_replays_at_other_times_and_speeds_stamp_every_click_alike_relative_to_their_origin() -> None:
    """What the engine then reads is the same up to a shift (it reads times relative to each other)."""
    data = _generated()
    fast = _Rules(t=1_000_000.2, latency=lambda r: r.uniform(0.001, 0.02), seed=1)
    slow = _Rules(t=2_000_000.9, latency=lambda r: r.uniform(0.01, 0.1), seed=2)
    assert _replay(fast, data, 1_000_001)[1] == 0 and _replay(slow, data, 2_000_003)[1] == 0
    first = {k: int(t) - 1_000_001 for k, t in fast.stamps.items()}
    assert first == {k: int(t) - 2_000_003 for k, t in slow.stamps.items()}
    assert len(first) == len(data.clicks) and len(set(first.values())) > 10
    origin_a, origin_b = datetime.fromtimestamp(1_000_001, UTC), datetime.fromtimestamp(2_000_003, UTC)
    ages_a = {s: origin_a - d["publishedAt"] for s, d in data.stories_for_replay(origin_a).items()}
    ages_b = {s: origin_b - d["publishedAt"] for s, d in data.stories_for_replay(origin_b).items()}
    assert (
        data.as_of is not None
        and data.as_of == generated_data(NOW + timedelta(minutes=40), users=40, stories=60, interactions=400).as_of
    )
    assert ages_a == ages_b and ages_a == {s: data.as_of - d["publishedAt"] for s, d in data.stories.items()}


def test_a_server_slower_than_the_plan_is_counted_late() -> None:
    rules = _Rules(t=10.0, latency=lambda _: 0.3)
    refused: Counter[str] = Counter()
    accepted, late = _replay(rules, _generated(), 10, refused=refused)
    assert accepted > 0 and late > 0 and refused == {}  # no follow clicks, none refused


def test_historical_stories_keep_their_dates_in_any_replay() -> None:
    stories = {"s1": {"title": "Old", "publishedAt": datetime(2016, 5, 1, tzinfo=UTC)}}
    data = DemoData("Deskdrop", stories, {}, [])
    assert data.stories_for_replay(NOW) == stories


def test_commit_times_are_read_to_the_fraction_of_a_second() -> None:
    assert commit_seconds("2026-12-01T12:00:05.123456789Z") == pytest.approx(NOW.timestamp() + 5.123456789)
    assert commit_seconds("2026-12-01T12:00:05Z") == NOW.timestamp() + 5
    assert commit_seconds(None) is None and commit_seconds("yesterday") is None


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
