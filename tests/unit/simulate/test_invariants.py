"""The export reconciliation: exactly once, never early, nothing hostile, nothing unknown."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from infra.local.simulate import invariants as inv
from infra.local.simulate.world import SentClick

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


class FakeWorld:
    def __init__(self, clicks: list[SentClick]) -> None:
        self.clicks = clicks


class FakeExports(inv.Exports):
    def __init__(self, rows: list[Any]) -> None:
        super().__init__()
        self._seen = {"m": ("run", rows)}


def _click(i: int, hours: float = 0, hostile: str = "", outcome: str = "captured") -> SentClick:
    return SentClick(f"c{i}", f"r{i}", f"s{i}", "open", T0 + timedelta(hours=hours), hostile, outcome=outcome)


def _statuses(checks: list[inv.Check]) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def test_every_click_before_the_watermark_exported_once_is_ok() -> None:
    clicks = [_click(1), _click(2), _click(3, hours=20)]
    checks = inv.check_export(FakeWorld(clicks), FakeExports([clicks[0].key, clicks[1].key]), T0 + timedelta(hours=12))  # type: ignore[arg-type]
    assert _statuses(checks) == {"clicks exported exactly once": "ok", "nothing hostile exported": "ok"}


@pytest.mark.parametrize(
    "rows",
    [
        lambda c: [c[0].key],  # one never exported
        lambda c: [c[0].key, c[1].key, c[1].key],  # one exported twice
        lambda c: [c[0].key, c[1].key, c[2].key],  # one exported before its day was over
        lambda c: [c[0].key, c[1].key, ("r9", "s9", 1, "open")],  # a row no reader sent
    ],
)
def test_a_lost_doubled_early_or_unknown_row_is_a_violation(rows: Any) -> None:
    clicks = [_click(1), _click(2), _click(3, hours=20)]
    checks = inv.check_export(FakeWorld(clicks), FakeExports(rows(clicks)), T0 + timedelta(hours=12))  # type: ignore[arg-type]
    assert _statuses(checks)["clicks exported exactly once"] == "violated"


def test_an_exported_hostile_click_is_a_violation() -> None:
    bad = _click(5, hostile="impersonation", outcome="captured")
    checks = inv.check_export(FakeWorld([bad]), FakeExports([bad.key]), T0 + timedelta(hours=12))  # type: ignore[arg-type]
    assert _statuses(checks)["nothing hostile exported"] == "violated"


def test_before_any_export_the_check_says_not_checked() -> None:
    [check] = inv.check_export(FakeWorld([_click(1)]), FakeExports([]), None)  # type: ignore[arg-type]
    assert check.status == "not checked" and check.detail


def test_counts_add_every_manifest() -> None:
    exports = FakeExports([("a", "b", 1, "open")])
    exports._seen["n"] = ("run2", [("a", "b", 1, "open")])
    assert exports.counts() == Counter({("a", "b", 1, "open"): 2})


class _Campaign:
    solution_version_arn = "arn:aws:personalize:us-east-1:0:solution/main/v2"


class _Port:
    def find_arn(self, kind: str, name: str) -> str:
        return "arn:aws:personalize:us-east-1:0:campaign/feed"

    def describe_campaign(self, arn: str) -> _Campaign:
        return _Campaign()


class _State:
    def __init__(self, decision: dict[str, Any] | None) -> None:
        self.decision = decision

    def decision_for(self, arn: str) -> dict[str, Any] | None:
        return self.decision


NDCG = "normalized_discounted_cumulative_gain_at_10"


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        ({"action": "promote", "invalid": [], "metrics": {"candidate": {NDCG: 0.3}, "serving": {NDCG: 0.2}}}, "ok"),
        ({"action": "promote", "invalid": [], "metrics": {"candidate": {NDCG: 0.3}, "serving": None}}, "ok"),
        (None, "violated"),  # serving without a recorded decision
        ({"action": "hold", "invalid": [], "metrics": {"candidate": {NDCG: 0.3}}}, "violated"),
        ({"action": "promote", "invalid": ["coverage"], "metrics": {"candidate": {NDCG: 0.3}}}, "violated"),
        ({"action": "promote", "invalid": [], "metrics": {"candidate": {NDCG: float("nan")}}}, "violated"),
        ({"action": "promote", "invalid": [], "metrics": {"candidate": {}}}, "violated"),
        (
            {"action": "promote", "invalid": [], "metrics": {"candidate": {NDCG: 0.1}, "serving": {NDCG: 0.2}}},
            "violated",
        ),
    ],
)
def test_a_served_version_needs_a_valid_promotion_that_did_not_lose(
    monkeypatch: pytest.MonkeyPatch, decision: dict[str, Any] | None, status: str
) -> None:
    from types import SimpleNamespace

    from shared.config import Settings

    settings = Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p"})
    deps = SimpleNamespace(settings=settings, personalize=_Port(), state=_State(decision))
    monkeypatch.setattr(inv.wiring, "stage_deps", lambda _s: deps)
    [check] = inv.check_served(settings, set())
    assert check.status == status, check
    assert inv.check_served(settings, {_Campaign.solution_version_arn})[0].status == "ok"  # the operator's first


def test_the_quality_table_averages_every_morning_with_an_interval(tmp_path: Any) -> None:
    import json

    from infra.local.simulate.run import quality_table

    ledger = tmp_path / "ledger.jsonl"
    mornings = [{"readers": 3, "feed": f, "latest": 0.5, "oracle": 2.0} for f in (0.1, 0.3)]
    lines = [{"stages": {}}, {"stages": {"quality": mornings[0]}}, {"stages": {"quality": {"readers": 0}}}]
    ledger.write_text("".join(json.dumps(line) + "\n" for line in lines))
    table = quality_table(ledger, {"stages": {"quality": mornings[1]}})
    assert table["feed"]["mean"] == 0.2 and table["feed"]["days"] == 2 and table["feed"]["ci95"] > 0
    assert table["latest"] == {"mean": 0.5, "ci95": 0.0, "days": 2} and table["oracle"]["mean"] == 2.0


def test_one_morning_has_no_interval_and_the_console_says_so(tmp_path: Any) -> None:
    """A 1-day run printed "0.687 ± nan over 1 mornings": one morning has no spread, so no interval, in words."""
    import json

    from infra.local.simulate.run import quality_lines, quality_table

    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text(json.dumps({"stages": {}}) + "\n")
    table = quality_table(ledger, {"stages": {"quality": {"readers": 3, "feed": 0.687, "latest": 0.5, "oracle": 2}}})
    assert table["feed"] == {"mean": 0.687, "ci95": None, "days": 1}
    json.dumps(table, allow_nan=False)  # the ledger's totals stay strict JSON
    lines = quality_lines(table)
    assert lines[0] == "expected clicks per look,   feed: 0.687 (one morning: no interval)"
    assert not any("nan" in line or "inf" in line for line in lines)
    two = quality_lines({"feed": {"mean": 0.2, "ci95": 0.196, "days": 2}})
    assert two == ["expected clicks per look,   feed: 0.200 ± 0.196 over 2 mornings"]


class CatalogueWorld:
    stories = {"s1": object()}
    retired = {"s0": T0}
    readers = {"r1": object()}
    left = {"r0": T0}


def test_each_story_and_reader_change_is_captured_once_in_its_state() -> None:
    items = {"s1": {"active": True}, "s0": {"active": False}}
    users = {"r1": {"USER_ID": "r1"}, "r0": {"active": False}}
    [check] = inv.catalogue_check(CatalogueWorld(), items, users)  # type: ignore[arg-type]
    assert check.status == "ok" and check.name == "stories and readers captured", check.detail
    missing = {"s0": {"active": False}}  # the published story never captured (its trigger's retry lost)
    [check] = inv.catalogue_check(CatalogueWorld(), missing, {**users, "r0": {"USER_ID": "r0"}})  # type: ignore[arg-type]
    assert check.status == "violated"
    assert check.examples == [("story", "s1", "missing"), ("reader", "r0", "left but active")]


def test_every_new_reader_has_a_first_feed() -> None:
    [ok] = inv.first_feed_check(["r1", "r2"], {"r1": {"kind": "popular"}, "r2": {"kind": "popular"}})
    assert ok.status == "ok" and ok.name == "new readers have a first feed"
    [bad] = inv.first_feed_check(["r1", "r2"], {"r1": {"kind": "popular"}})
    assert bad.status == "violated" and bad.examples == ["r2"]
    [none] = inv.first_feed_check([], {})
    assert none.status == "ok"


class _Snap:
    def __init__(self, uid: str, data: dict[str, Any]) -> None:
        self.id, self.exists, self._data = uid, True, data

    def to_dict(self) -> dict[str, Any]:
        return self._data


class _Feeds:
    """The few Firestore calls check_feeds makes, over a dict of feeds."""

    def __init__(self, feeds: dict[str, dict[str, Any]]) -> None:
        self.feeds = feeds

    def collection(self, name: str) -> Any:
        return self

    def document(self, uid: str) -> str:
        return uid

    def get_all(self, refs: list[str]) -> list[_Snap]:
        return [_Snap(u, self.feeds[u]) for u in refs if u in self.feeds]


class FeedWorld:
    def __init__(self, clicks: list[SentClick], feeds: dict[str, dict[str, Any]]) -> None:
        self.clicks, self.readers, self.retired = clicks, {c.uid: object() for c in clicks}, {}
        self.firestore, self.settings = _Feeds(feeds), SimpleNamespace(collections=SimpleNamespace(feeds="feeds"))


def test_before_the_first_campaign_a_stale_feed_is_a_violation_even_with_an_alert() -> None:
    """No campaign yet is not an outage: the fill gives every reader a fresh feed, so a kept feed marked stale
    (the fill's old behaviour, with its daily alert) is flagged; after a failed fill that alerted it is the
    degraded mode."""
    fill_at = T0 + timedelta(days=1)
    clicks = [_click(1), _click(2)]
    fresh = {"generatedAt": fill_at, "kind": "popular", "stale": False}
    stale = {"generatedAt": T0 - timedelta(days=3), "stale": True, "staleSince": fill_at}
    no_campaign = {"solution_version_arn": None, "no_campaign": True, "alerted": False}
    world: Any = FeedWorld(clicks, {"r1": fresh, "r2": fresh})
    assert (
        _statuses(inv.check_feeds(world, fill_at, no_campaign, False, 30))["active readers have a fresh feed"] == "ok"
    )
    world = FeedWorld(clicks, {"r1": fresh, "r2": stale})
    for fill in (no_campaign, {**no_campaign, "alerted": True}):
        [fresh_check, *_] = inv.check_feeds(world, fill_at, fill, False, 30)
        assert fresh_check.status == "violated" and fresh_check.detail == "1 of 2 active readers", fill
    outage = {"solution_version_arn": None, "alerted": True}  # the engine down: no telling whether a campaign exists
    [fresh_check, *_] = inv.check_feeds(world, fill_at, outage, True, 30)
    assert fresh_check.status == "ok" and "the engine was down" in fresh_check.detail
