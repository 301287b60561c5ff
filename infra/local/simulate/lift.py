"""The simulation's lift table (docs/simulate.md): per test and arm, what readers did with their feeds, beside
what the generator knows they could have done.

Measured, from the readers' ground truth (every accepted impression and click the simulation wrote, each
attributed to the feed document the reader saw: its ``experimentId`` and ``arm``): per arm, the exposed
readers (at least one story of a feed seen), clicks-from-feed per impression (a story seen) and per exposed
reader, with 95 % intervals from ``shared/experiment/stats.py`` — the reader as the unit, the delta method —
and each arm's relative lift over the control arm of the same test (fixed 95 % interval, no CUPED: the
table reads a finished run, it decides nothing). Tests are kept apart: arms are re-drawn for each test, so a
reader's arm means something only within one.

Known, from the generator: the mean expected clicks of one look at the head of the arm's feeds (each
morning, right after the fill) and of the **oracle** feed for the same readers (their unread stories by true
click probability: the upper bound). Everything undefined (an empty arm, no impressions, no control) is
``None`` and printed "no data": never a crash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.experiment.stats import METRICS, Moments, estimate, lift
from shared.report.data import FeedDay, SimulatedArm

NO_TEST = "no test"
ARM_ORDER = ("champion", "challenger", "control")
ACCEPTED = ("captured", "duplicate")


@dataclass(frozen=True)
class FeedEvent:
    """One accepted impression (``stories`` seen) or click (``clicks`` 1) on a feed, with the feed's test and arm."""

    test: str
    arm: str
    uid: str
    stories: int = 0
    clicks: int = 0


def events(impressions: Iterable[Any], clicks: Iterable[Any]) -> list[FeedEvent]:
    """The feed events of the world's accepted impressions and clicks (``SentImpression`` / ``SentClick``);
    hostile writes, quarantined ones and the "latest" list are left out."""
    out: list[FeedEvent] = []
    for imp in impressions:
        if imp.outcome in ACCEPTED and imp.view.list == "feed":
            out.append(
                FeedEvent(imp.view.experiment_id or NO_TEST, imp.view.arm or "champion", imp.uid, len(imp.story_ids))
            )
    for c in clicks:
        view = c.view
        if not c.hostile and c.outcome in ACCEPTED and view is not None and view.list == "feed":
            out.append(FeedEvent(view.experiment_id or NO_TEST, view.arm or "champion", c.uid, clicks=1))
    return out


def _num(v: float) -> float | None:
    return round(v, 6) if isinstance(v, int | float) and math.isfinite(v) else None


def _interval(m: Moments, metric: str) -> dict[str, float | None]:
    """The estimate and its 95 % interval; the normal approximation's lower bound is cut at 0 (a rate of clicks
    is never negative: with a few readers the bound fell below it)."""
    e = estimate(m, METRICS[metric])
    low, high = e.interval()
    return {"value": _num(e.value), "low": _num(_floor(low, 0.0)), "high": _num(high)}


def _floor(bound: float, least: float) -> float:
    """An interval's lower bound, never below what the quantity can be (the normal approximation goes past it)."""
    return max(least, bound) if math.isfinite(bound) else bound


def _expected(row: Mapping[str, Any] | None) -> dict[str, float | None]:
    looks = float((row or {}).get("looks") or 0)
    if looks <= 0:
        return {"served": None, "oracle": None, "served_of_oracle": None, "looks": 0}
    served, oracle = float(row["served"]) / looks, float(row["oracle"]) / looks  # type: ignore[index]
    share = served / oracle if oracle > 0 else math.nan
    return {"served": _num(served), "oracle": _num(oracle), "served_of_oracle": _num(share), "looks": int(looks)}


def lift_table(
    feed_events: Iterable[FeedEvent], expected: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None
) -> dict[str, Any]:
    """The table: ``{"tests": [{"test", "arms": [...], "lifts": [...]}]}``; ``expected[test][arm]`` holds the
    sums ``served``, ``oracle`` and the number of ``looks`` (morning looks at a reader's feed)."""
    per_reader: dict[tuple[str, str], dict[str, list[int]]] = {}
    for e in feed_events:
        totals = per_reader.setdefault((e.test, e.arm), {}).setdefault(e.uid, [0, 0])
        totals[0] += e.clicks
        totals[1] += e.stories
    expected = expected or {}
    tests = sorted({t for t, _ in per_reader} | set(expected), key=lambda t: (t == NO_TEST, t))
    out = []
    for test in tests:
        arms_seen = {a for t, a in per_reader if t == test} | set(expected.get(test, {}))
        names = [a for a in ARM_ORDER if a in arms_seen] + sorted(arms_seen - set(ARM_ORDER))
        moments: dict[str, Moments] = {}
        arms = []
        for arm in names:
            readers = per_reader.get((test, arm), {})
            # exposed: at least one story of a feed seen (a click without a recorded impression still counts)
            m = Moments.of((float(c), float(s), 0.0) for c, s in readers.values() if s > 0 or c > 0)
            moments[arm] = m
            arms.append(
                {
                    "arm": arm,
                    "readers": m.n,
                    "impressions": int(m.sy),
                    "clicks": int(m.sx),
                    "clicks_per_impression": _interval(m, "clicks_per_impression"),
                    "clicks_per_reader": _interval(m, "clicks_per_user"),
                    "expected_clicks_per_look": _expected(expected.get(test, {}).get(arm)),
                }
            )
        lifts = []
        if "control" in moments:
            for arm in names:
                if arm == "control":
                    continue
                for metric, label in (
                    ("clicks_per_user", "clicks_per_reader"),
                    ("clicks_per_impression", "clicks_per_impression"),
                ):
                    x = lift(metric, (arm, moments[arm]), ("control", moments["control"]), cuped=False)
                    lifts.append(
                        {
                            "arm": arm,
                            "over": "control",
                            "metric": label,
                            "lift": _num(x.lift),
                            "low": _num(_floor(x.interval[0], -1.0)),  # below -100 % is impossible
                            "high": _num(x.interval[1]),
                        }
                    )
        out.append({"test": test, "arms": arms, "lifts": lifts})
    return {"tests": out}


def add_look(
    into: dict[str, dict[str, dict[str, float]]], feed: Mapping[str, Any], served: float, oracle: float
) -> None:
    """Count one morning look at a reader's feed document (its ``experimentId`` and ``arm``): the expected
    clicks of its head and of the reader's oracle feed."""
    test = feed.get("experimentId") if isinstance(feed.get("experimentId"), str) else None
    arm = feed.get("arm") if isinstance(feed.get("arm"), str) else None
    acc = into.setdefault(test or NO_TEST, {}).setdefault(
        arm or "champion", {"served": 0.0, "oracle": 0.0, "looks": 0.0}
    )
    acc["served"] += served
    acc["oracle"] += oracle
    acc["looks"] += 1


def add_looks(into: dict[str, dict[str, dict[str, float]]], day: Mapping[str, Any] | None) -> None:
    """Add one morning's per-arm sums (the ledger's ``quality.arms``) into the run's."""
    for test, arms in ((day or {}).get("arms") or {}).items():
        for arm, row in arms.items():
            acc = into.setdefault(test, {}).setdefault(arm, {"served": 0.0, "oracle": 0.0, "looks": 0.0})
            for k in acc:
                acc[k] += float(row.get(k) or 0.0)


def value_text(v: object, digits: int = 3) -> str:
    """A finite number to ``digits`` places, else "no data"."""
    return f"{v:.{digits}f}" if isinstance(v, int | float) and math.isfinite(v) else "no data"


def interval_text(row: Mapping[str, Any], digits: int = 3) -> str:
    """``value [low, high]`` of a table row, or why there is none."""
    if row.get("value") is None:
        return "no data"
    if row.get("low") is None or row.get("high") is None:
        return f"{value_text(row['value'], digits)} (no interval)"
    return f"{value_text(row['value'], digits)} [{value_text(row['low'], digits)}, {value_text(row['high'], digits)}]"


def lift_text(row: Mapping[str, Any]) -> str:
    """A relative lift and its interval in percent (``+12% [-3%, +30%]``), or why there is none."""
    def p(v: object) -> str:
        return f"{v:+.0%}" if isinstance(v, int | float) and math.isfinite(v) else "?"

    if row.get("lift") is None:
        return "no data"
    if row.get("low") is None or row.get("high") is None:
        return f"{p(row['lift'])} (no interval)"
    return f"{p(row['lift'])} [{p(row['low'])}, {p(row['high'])}]"


def render(table: Mapping[str, Any], *, narrow: bool = False) -> str:
    """The table as fixed-width text (``storyrec-dev simulate`` prints it): one row per arm (138 columns), or
    ``narrow``: each test's arms in two blocks of at most 80 columns (what they saw, then what it gave)."""
    tests = table.get("tests") or []
    if not tests:
        return "lift table: no data (no reader saw a feed)"
    seen = f"{'readers':>8}{'impr.':>8}{'clicks':>7}  {'clicks/impression [95 %]':<26}"
    gave = f"{'clicks/reader [95 %]':<24}{'lift/reader vs control':<24}"
    lines = []
    for t in tests:
        lift_of = {x["arm"]: x for x in t.get("lifts") or [] if x["metric"] == "clicks_per_reader"}
        rows = []
        for a in t.get("arms") or []:
            exp = a.get("expected_clicks_per_look") or {}
            lifted = "no data" if a["arm"] not in lift_of else lift_text(lift_of[a["arm"]])
            lifted = "-" if a["arm"] == "control" else lifted
            rows.append(
                (
                    f"{a['arm']:<11}",
                    f"{a['readers']:>8}{a['impressions']:>8}{a['clicks']:>7}  "
                    f"{interval_text(a['clicks_per_impression'], 3):<26}",
                    f"{interval_text(a['clicks_per_reader'], 2):<24}{lifted:<24}",
                    (value_text(exp.get("served")), value_text(exp.get("oracle"))),
                )
            )
        lines.append(f"test {t['test']}")
        if narrow:
            lines += [f"{'arm':<11}{seen}".rstrip(), *(f"{arm}{a}".rstrip() for arm, a, _, _ in rows)]
            lines += [f"{'arm':<11}{gave}{'exp./look':>10}{'oracle':>8}".rstrip()]
            lines += [f"{arm}{b}{e[0]:>10}{e[1]:>8}".rstrip() for arm, _, b, e in rows]
        else:
            lines.append(f"{'arm':<11}{seen}{gave}{'expected/look: feed':>20}{'oracle':>8}")
            lines += [f"{arm}{a}{b}{e[0]:>20}{e[1]:>8}" for arm, a, b, e in rows]
    return "\n".join(lines)


def report_arms(table: Mapping[str, Any]) -> tuple[SimulatedArm, ...]:
    """The table as the HTML report's simulation section (``shared.report``'s ``SimulatedArm`` rows)."""
    out = []
    for t in table.get("tests") or []:
        lifts = {x["arm"]: x for x in t.get("lifts") or [] if x.get("metric") == "clicks_per_reader"}
        for a in t.get("arms") or []:
            per, x = a.get("clicks_per_reader") or {}, lifts.get(a["arm"]) or {}
            exp = a.get("expected_clicks_per_look") or {}
            out.append(
                SimulatedArm(
                    str(t["test"]),
                    str(a["arm"]),
                    int(a.get("readers") or 0),
                    per.get("value"),
                    per.get("low"),
                    per.get("high"),
                    x.get("lift"),
                    x.get("low"),
                    x.get("high"),
                    exp.get("served"),
                    exp.get("oracle"),
                )
            )
    return tuple(out)


def report_feed_days(ledger: Iterable[Mapping[str, Any]]) -> tuple[FeedDay, ...]:
    """Each morning's fill and expected clicks per look, from the ledger's records (a night without a fill,
    e.g. day 0, has none), as the HTML report's per-day feeds."""
    out = []
    for record in ledger:
        fill = (record.get("stages") or {}).get("feeds")
        if not isinstance(fill, dict):
            continue
        quality = (record.get("stages") or {}).get("quality") or {}
        measured = bool(quality.get("readers"))
        out.append(
            FeedDay(
                date.fromisoformat(str(record["date"])),
                int(fill.get("users") or 0),
                int(fill.get("personalized") or 0),
                int(fill.get("popular") or 0),
                int(fill.get("stale") or 0),
                int(fill.get("missing") or 0),
                quality.get("feed") if measured else None,
                quality.get("latest") if measured else None,
                quality.get("oracle") if measured else None,
            )
        )
    return tuple(out)
