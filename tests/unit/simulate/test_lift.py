"""The simulation's lift table (infra/local/simulate/lift.py): per test and arm, the reader as the unit."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.weightstats import DescrStatsW

from infra.local.simulate.lift import (
    NO_TEST,
    FeedEvent,
    add_look,
    add_looks,
    events,
    lift_table,
    render,
    report_arms,
    report_feed_days,
)
from infra.local.simulate.world import FeedView

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def _arm(table: dict, test: str, arm: str) -> dict:
    t = next(x for x in table["tests"] if x["test"] == test)
    return next(a for a in t["arms"] if a["arm"] == arm)


def _synthetic(n_champion: int, n_control: int, seed: int) -> tuple[list[FeedEvent], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out: list[FeedEvent] = []
    per_reader: dict[str, np.ndarray] = {}
    for arm, n, rate in (("champion", n_champion, 0.3), ("control", n_control, 0.15)):
        clicks = []
        for i in range(n):
            uid = f"{arm}-{i}"
            stories = int(rng.integers(1, 30))
            c = int(rng.binomial(stories, rate))
            out.append(FeedEvent("t1", arm, uid, stories=stories))
            out += [FeedEvent("t1", arm, uid, clicks=1)] * c
            clicks.append(c)
        per_reader[arm] = np.array(clicks, dtype=float)
    return out, per_reader


def test_clicks_per_reader_interval_is_the_mean_of_readers_with_the_reader_as_unit() -> None:
    feed_events, per_reader = _synthetic(300, 60, seed=3)
    table = lift_table(feed_events)
    for arm, clicks in per_reader.items():
        row = _arm(table, "t1", arm)["clicks_per_reader"]
        low, high = DescrStatsW(clicks).zconfint_mean(alpha=0.05)
        assert math.isclose(row["value"], clicks.mean(), rel_tol=1e-5)
        assert math.isclose(row["low"], low, rel_tol=1e-4) and math.isclose(row["high"], high, rel_tol=1e-4)
    lifts = {(x["arm"], x["metric"]): x for x in table["tests"][0]["lifts"]}
    per = lifts[("champion", "clicks_per_reader")]
    assert math.isclose(per["lift"], per_reader["champion"].mean() / per_reader["control"].mean() - 1, rel_tol=1e-5)
    assert per["low"] < per["lift"] < per["high"] and per["low"] > 0  # a doubled click rate on 60 control readers
    assert "control" not in {x["arm"] for x in table["tests"][0]["lifts"]}


def test_clicks_per_impression_is_the_ratio_of_sums() -> None:
    feed_events, _ = _synthetic(50, 20, seed=1)
    table = lift_table(feed_events)
    for arm in ("champion", "control"):
        row = _arm(table, "t1", arm)
        assert math.isclose(row["clicks_per_impression"]["value"], row["clicks"] / row["impressions"], rel_tol=1e-5)
        assert row["clicks_per_impression"]["low"] < row["clicks_per_impression"]["value"]


def test_tests_are_kept_apart_and_expected_clicks_are_per_look() -> None:
    looks: dict = {}
    add_look(looks, {"experimentId": "holdout-v1", "arm": "control"}, 0.2, 2.0)
    add_look(looks, {"experimentId": "holdout-v1", "arm": "control"}, 0.4, 2.2)
    add_look(looks, {}, 0.5, 2.0)  # no test: everyone champion
    summed: dict = {}
    add_looks(summed, {"arms": looks})
    add_looks(summed, None)
    feed_events = [FeedEvent("holdout-v1", "control", "a", stories=3, clicks=0), FeedEvent(NO_TEST, "champion", "b", 2)]
    table = lift_table(feed_events, summed)
    assert [t["test"] for t in table["tests"]] == ["holdout-v1", NO_TEST]
    control = _arm(table, "holdout-v1", "control")["expected_clicks_per_look"]
    assert control["looks"] == 2 and math.isclose(control["served"], 0.3) and math.isclose(control["oracle"], 2.1)
    assert math.isclose(control["served_of_oracle"], 0.3 / 2.1, rel_tol=1e-5)
    assert _arm(table, NO_TEST, "champion")["expected_clicks_per_look"]["served"] == 0.5


@dataclass(frozen=True)
class _Imp:
    uid: str
    story_ids: tuple[str, ...]
    view: FeedView
    outcome: str = "captured"


@dataclass(frozen=True)
class _Click:
    uid: str
    view: FeedView | None
    hostile: str = ""
    outcome: str = "captured"


def test_events_take_accepted_feed_impressions_and_clicks_only() -> None:
    feed = FeedView("feed", "rid-1", None, "champion", "holdout-v1", "personalized")
    latest = FeedView("latest")
    imps = [_Imp("a", ("s1", "s2"), feed), _Imp("a", ("s3",), latest), _Imp("a", ("s4",), feed, "quarantined")]
    clicks = [_Click("a", feed), _Click("a", latest), _Click("a", feed, hostile="x"), _Click("a", None)]
    assert events(imps, clicks) == [
        FeedEvent("holdout-v1", "champion", "a", stories=2),
        FeedEvent("holdout-v1", "champion", "a", clicks=1),
    ]


def test_no_data_is_said_in_words() -> None:
    assert "no data" in render(lift_table([]))
    table = lift_table([FeedEvent("t", "challenger", "a", stories=0, clicks=0)], {"t": {"control": {"looks": 0}}})
    text = render(table)
    assert "no data" in text and "challenger" in text and "control" in text


_events = st.lists(
    st.builds(
        FeedEvent,
        st.sampled_from(["t1", "t2", NO_TEST]),
        st.sampled_from(["champion", "challenger", "control", "odd"]),
        st.sampled_from([f"u{i}" for i in range(6)]),
        st.integers(0, 25),
        st.integers(0, 3),
    ),
    max_size=40,
)
_row = st.fixed_dictionaries(
    {
        "served": st.floats(allow_nan=True, allow_infinity=True),
        "oracle": st.floats(allow_nan=True, allow_infinity=True),
        "looks": st.floats(0, 1e6),
    }
)
_expected = st.dictionaries(
    st.sampled_from(["t1", "t3", NO_TEST]), st.dictionaries(st.sampled_from(["champion", "control"]), _row), max_size=3
)


@settings(max_examples=300, deadline=None)
@given(_events, _expected)
def test_the_table_is_total(feed_events: list[FeedEvent], expected: dict) -> None:
    """Empty arms, zero impressions, no control, NaN or infinite expected clicks: a table and its text, never a
    crash; every number finite or None; an interval, when there is one, holds its value."""
    table = lift_table(feed_events, expected)
    json.loads(json.dumps(table, allow_nan=False))  # finite or null only
    render(table)
    for t in table["tests"]:
        for a in t["arms"]:
            for metric in ("clicks_per_impression", "clicks_per_reader"):
                r = a[metric]
                if a["readers"] < 2:
                    assert r["value"] is None
                if r["low"] is not None and r["high"] is not None:
                    assert r["low"] <= r["value"] + 1e-9 and r["value"] <= r["high"] + 1e-9
                assert r["low"] is None or r["low"] >= 0  # a rate of clicks is never negative
        for x in t["lifts"]:
            assert x["arm"] != "control"
            if x["low"] is not None:
                assert x["low"] <= x["lift"] + 1e-9 <= x["high"] + 2e-9
                assert x["low"] >= -1  # a lift below -100 % is impossible


def test_a_few_readers_lower_bound_stops_at_zero_and_a_lift_at_minus_100_percent() -> None:
    """With a handful of readers the normal approximation's interval reaches below what a rate (0) or a lift
    (-100 %) can be: the table cuts it there (a 1-day run printed clicks/reader [-0.08, 0.65])."""
    few = [FeedEvent("t1", "champion", f"r{i}", stories=5, clicks=int(i == 0)) for i in range(7)]
    few += [FeedEvent("t1", "control", f"c{i}", stories=5, clicks=3 * int(i < 2)) for i in range(4)]
    table = lift_table(few)
    row = _arm(table, "t1", "champion")
    assert row["clicks_per_reader"]["low"] == 0 and row["clicks_per_impression"]["low"] == 0
    assert row["clicks_per_reader"]["high"] > row["clicks_per_reader"]["value"] > 0
    lifts = {x["metric"]: x for x in table["tests"][0]["lifts"]}
    assert lifts["clicks_per_reader"]["low"] == -1 and lifts["clicks_per_reader"]["lift"] > -1


def test_the_report_shows_the_arms_beside_the_oracle_only_for_a_simulation() -> None:
    from shared.report import render_html
    from shared.report.data import ReportData

    feed_events, _ = _synthetic(40, 20, seed=2)
    looks: dict = {}
    add_look(looks, {"experimentId": "t1", "arm": "champion"}, 0.31, 2.2)
    table = lift_table([*feed_events, FeedEvent("t1", "challenger", "z", 0, 0)], looks)
    html = render_html(ReportData("demo", T0, simulated_arms=report_arms(table)))
    section = html.split('data-section="simulated-arms"')[1].split("</section>")[0]
    assert "champion" in section and "0.3100" in section and "2.2000" in section and "no data" in section
    assert 'data-section="simulated-arms"' not in render_html(ReportData("demo", T0))


def test_the_ledger_s_fills_become_the_report_s_feeds_per_day() -> None:
    """Day 0 has no fill; a morning with no reader measured has no expected clicks (not zeros)."""
    from datetime import date

    fill = {"users": 40, "personalized": 30, "popular": 8, "stale": 2, "missing": 0}
    measured = {"readers": 30, "feed": 0.2, "latest": 0.5, "oracle": 2}
    ledger = [
        {"day": 0, "date": "2026-11-01", "stages": {"day": {"readers": 28}}},
        {"day": 1, "date": "2026-11-02", "stages": {"feeds": fill, "quality": {"readers": 0}}},
        {"day": 2, "date": "2026-11-03", "stages": {"feeds": fill, "quality": measured}},
    ]
    days = report_feed_days(ledger)
    assert [(d.day, d.personalized, d.expected_feed, d.expected_oracle) for d in days] == [
        (date(2026, 11, 2), 30, None, None),
        (date(2026, 11, 3), 30, 0.2, 2),
    ]
