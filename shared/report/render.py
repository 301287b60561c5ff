"""One self-contained HTML file from :class:`ReportData`: inline CSS and inline SVG plots, no URL fetched.

Plots are drawn with matplotlib (the ``report`` extra) straight to SVG with text as paths, so the page
looks the same without any font or network. A section without a data source renders a "no data yet"
panel naming what will fill it.
"""

from __future__ import annotations

import html
import io
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from shared.personalize.metrics import metric_label
from shared.report.data import (
    DailyCount,
    ExperimentLook,
    ExportRun,
    FeedSnapshot,
    ReasonCount,
    ReportData,
    SimulatedArm,
    SolutionVersion,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EVENT_ORDER = ("open", "read", "like", "save", "comment")
METRICS = (
    "normalized_discounted_cumulative_gain_at_10",
    "precision_at_10",
    "mean_reciprocal_rank_at_25",
    "coverage",
)
DECISION_STYLE = {
    "serving": ("#1b7f3b", "*"),
    "promoted": ("#2a6fdb", "^"),
    "kept": ("#888888", "o"),
    "failed": ("#c0392b", "x"),
    "pending": ("#e0a100", "s"),
    "testing": ("#7b3fb5", "D"),
    "retired": ("#555555", "v"),
}
_XML_PROLOGUE = re.compile(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*|<metadata>.*?</metadata>\s*", re.DOTALL)
_ID_REF = re.compile(r"""(\bid="|href="#|url\(#)([^")]+)""")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}.sub{color:#666;margin-top:0}
section{margin:2rem 0;border-top:1px solid #ddd;padding-top:1rem}
figure{margin:0}figure svg{width:100%;height:auto;max-width:1000px}
figcaption{color:#555;font-size:.9rem}
.empty{background:#f6f6f6;border:1px dashed #bbb;padding:1.2rem;color:#555;border-radius:6px}
.tiles{display:flex;gap:1rem;flex-wrap:wrap}.tile{background:#f3f6fb;border-radius:6px;padding:.8rem 1rem}
.tile b{display:block;font-size:1.4rem}
table{border-collapse:collapse;font-size:.9rem}td,th{border-bottom:1px solid #e3e3e3;padding:.3rem .7rem;
text-align:right}th:first-child,td:first-child{text-align:left}
"""


def render_html(data: ReportData) -> str:
    """The whole report as one HTML document."""
    sections = [
        _section(
            "interactions",
            "Interactions per day, by type",
            data.interactions_per_day,
            _interactions,
            "ml_interactions counts by TIMESTAMP day (Firestore count()).",
        ),
        _section(
            "quarantine",
            "Quarantined documents, by reason",
            data.quarantine,
            _quarantine,
            "ml_quarantine counts by reason.",
        ),
        _section("exports", "Daily exports", data.exports, _exports, "The export manifests in the backup bucket."),
        _section(
            "solutions",
            "Solution versions: offline metrics and promotion decisions",
            data.solution_versions,
            _solutions,
            "Filled once the train/promote stage records its solution versions.",
        ),
        _feeds_section(data.feeds),
        _section(
            "experiments",
            "Online tests: arms, exposure, lift with its always-valid interval, verdict",
            data.experiments,
            _experiments,
            "Filled once the monitor looks at a test (promotion mode online, or the control arm's holdout).",
        ),
    ]
    if data.simulated_arms is not None:
        sections.append(
            _section(
                "simulated-arms",
                "Simulation: the arms' lift beside the oracle",
                data.simulated_arms,
                _simulated_arms,
                "The simulation's lift table (readers' ground truth; the generator's expected clicks).",
            )
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in data.notes)
    generated = data.generated_at.isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>storyrec report: {html.escape(data.project)}</title>
<style>{_CSS}</style></head>
<body>
<h1>storyrec pipeline report</h1>
<p class="sub">project {html.escape(data.project)} · generated {html.escape(generated)}</p>
{_tiles(data)}
{"".join(sections)}
{f"<section><h2>Notes</h2><ul>{notes}</ul></section>" if notes else ""}
</body></html>
"""


def _section(
    name: str, title: str, rows: Sequence[Any] | None, draw: Callable[[Sequence[Any]], str], source: str
) -> str:
    if rows is None:
        body = _empty(f"No data yet: no data source is connected. {source}")
    elif not rows:
        body = _empty(f"No data yet: the source has nothing to show. {source}")
    else:
        body = draw(rows)
    return f'<section data-section="{name}"><h2>{html.escape(title)}</h2>{body}</section>\n'


def _empty(text: str) -> str:
    return f'<div class="empty" data-empty="true">{html.escape(text)}</div>'


def _tiles(data: ReportData) -> str:
    tiles = []
    if data.interactions_per_day:
        tiles.append(("interactions", f"{sum(c.count for c in data.interactions_per_day):,}"))
    if data.quarantine is not None:
        tiles.append(("quarantined", f"{sum(c.count for c in data.quarantine):,}"))
    if data.exports:
        tiles.append(("last export", max(e.day for e in data.exports).isoformat()))
    if data.solution_versions:
        serving = [v.name for v in data.solution_versions if v.decision == "serving"]
        tiles.append(("serving version", serving[-1] if serving else "none"))
    if data.feeds:
        tiles.append(("users with a feed", f"{data.feeds.users_with_feed:,} / {data.feeds.users_total:,}"))
    cells = "".join(f'<div class="tile">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in tiles)
    return f'<div class="tiles">{cells}</div>'


def _figure(name: str, fig: Figure, caption: str) -> str:
    from matplotlib import rc_context

    buf = io.StringIO()
    with rc_context({"svg.fonttype": "path", "svg.hashsalt": name}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = _XML_PROLOGUE.sub("", buf.getvalue())
    # several SVGs share one HTML document: give each its own id namespace (glyphs, clip paths, groups)
    svg = _ID_REF.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", svg)
    return f'<figure class="plot" data-plot="{name}">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'


def _new_figure(width: float = 10.0, height: float = 4.0) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _dates(days: Sequence[date]) -> Any:
    import numpy as np

    return np.array(days, dtype="datetime64[D]")


FEW_DAYS = 3
"""A plot over time with fewer days than this says in words that there is too little to see a trend."""


def _date_axis(ax: Any, days: Sequence[date]) -> None:
    """Fit the x axis to the days plotted (half a day either side), ticks on whole days, never hours."""
    import matplotlib.dates
    import numpy as np

    mdates: Any = matplotlib.dates  # untyped constructors
    first, last = min(days), max(days)
    ax.set_xlim(_dates([first]) - np.timedelta64(12, "h"), _dates([last]) + np.timedelta64(12, "h"))
    span = (last - first).days + 1
    locator: Any = mdates.DayLocator(interval=max(1, span // 8)) if span <= 60 else mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator) if span > 60 else mdates.DateFormatter("%b %d"))


def _whole_numbers(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _few_days(days: int) -> str:
    if days >= FEW_DAYS:
        return ""
    return f" Only {_plural(days, 'day')} so far: too little data to show a trend."


def _interactions(rows: Sequence[DailyCount]) -> str:
    days = sorted({r.day for r in rows})
    types = [t for t in EVENT_ORDER if any(r.event_type == t for r in rows)]
    types += sorted({r.event_type for r in rows} - set(types))
    counts: dict[str, dict[Any, int]] = defaultdict(dict)
    for r in rows:
        counts[r.event_type][r.day] = counts[r.event_type].get(r.day, 0) + r.count
    fig = _new_figure()
    ax = fig.add_subplot()
    bottom = [0] * len(days)
    for t in types:
        values = [counts[t].get(d, 0) for d in days]
        ax.bar(_dates(days), values, bottom=bottom, label=t, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("interactions")
    _whole_numbers(ax.yaxis)
    _date_axis(ax, days)
    ax.legend(ncols=len(types), loc="lower left", bbox_to_anchor=(0, 1), frameon=False)
    fig.autofmt_xdate()
    total = sum(bottom)
    caption = f"{_plural(total, 'interaction')} over {_plural(len(days), 'day')}.{_few_days(len(days))}"
    return _figure("interactions-per-day", fig, caption)


def _quarantine(rows: Sequence[ReasonCount]) -> str:
    ordered = sorted(rows, key=lambda r: r.count)
    fig = _new_figure(10.0, max(2.0, 0.4 * len(ordered) + 1))
    ax = fig.add_subplot()
    bars = ax.barh([r.reason for r in ordered], [r.count for r in ordered], color="#c0392b")
    ax.bar_label(bars, padding=3)
    ax.set_xlabel("documents")
    _whole_numbers(ax.xaxis)
    total = sum(r.count for r in rows)
    caption = f"{_plural(total, 'quarantined document')}, {_plural(len(rows), 'reason')}."
    return _figure("quarantine-reasons", fig, caption)


def _exports(runs: Sequence[ExportRun]) -> str:
    ordered = sorted(runs, key=lambda r: r.day)
    datasets = sorted({d for r in ordered for d in r.rows})
    head = "".join(f"<th>{html.escape(d)} rows</th>" for d in datasets)
    body = "".join(
        f"<tr><td>{r.day.isoformat()}</td>"
        + "".join(f"<td>{r.rows.get(d, 0):,}</td>" for d in datasets)
        + f"<td>{sum(r.rejected.values()):,}</td><td>{html.escape(r.run_id)}</td></tr>"
        for r in ordered[-14:]
    )
    fig = _new_figure(10.0, 3.0)
    ax = fig.add_subplot()
    marker = "o" if len(ordered) <= 31 else None
    for d in datasets:
        ax.plot(_dates([r.day for r in ordered]), [r.rows.get(d, 0) for r in ordered], marker=marker, label=d)
    ax.set_ylabel("rows exported")
    _whole_numbers(ax.yaxis)
    _date_axis(ax, [r.day for r in ordered])
    ax.legend(ncols=len(datasets), loc="lower left", bbox_to_anchor=(0, 1), frameon=False)
    fig.autofmt_xdate()
    days = len({r.day for r in ordered})
    caption = f"{_plural(len(ordered), 'export run')} (table: the last 14).{_few_days(days)}"
    plot = _figure("export-rows", fig, caption)
    table = f"<table><tr><th>date</th>{head}<th>rejected</th><th>run</th></tr>{body}</table>"
    return plot + table


def _solutions(versions: Sequence[SolutionVersion]) -> str:
    ordered = sorted(versions, key=lambda v: v.created)
    fig = _new_figure()
    ax = fig.add_subplot()
    x = list(range(len(ordered)))
    for metric in METRICS:  # markers too: a single version has no line to draw
        values = [v.metrics.get(metric, float("nan")) for v in ordered]
        ax.plot(x, values, label=_short(metric), alpha=0.8, marker=".")
    key_metric = METRICS[0]
    for decision, (colour, marker) in DECISION_STYLE.items():
        chosen = [i for i, v in enumerate(ordered) if v.decision == decision]
        if chosen:
            ys = [ordered[i].metrics.get(key_metric, float("nan")) for i in chosen]
            ax.scatter(chosen, ys, color=colour, marker=marker, s=120, zorder=3, label=decision)
    ax.set_xticks(x, [f"{v.name}\n{v.created:%Y-%m-%d}" for v in ordered], fontsize=8)
    ax.set_ylabel("offline metric")
    ax.legend(ncols=3, frameon=False, fontsize=8)
    rows = "".join(
        f"<tr><td>{html.escape(v.name)}</td><td>{html.escape(v.decision)}</td>"
        f"<td>{v.metrics.get(key_metric, float('nan')):.4f}</td><td>{html.escape(v.reason)}</td></tr>"
        for v in ordered
    )
    table = f"<table><tr><th>version</th><th>decision</th><th>{_short(key_metric)}</th><th>why</th></tr>{rows}</table>"
    caption = (
        f"{_plural(len(ordered), 'solution version')}; markers on {_short(key_metric)} show each promotion decision."
    )
    if len(ordered) < 2:
        caption += " One version so far: nothing to compare it with yet."
    return _figure("solution-metrics", fig, caption) + table


def _short(metric: str) -> str:
    return metric_label(metric)


def _feeds_section(feeds: FeedSnapshot | None) -> str:
    title = "Feeds: coverage and freshness"
    if feeds is None:
        body = _empty("No data yet: no data source is connected. Filled once the recommend stage writes feeds.")
        return f'<section data-section="feeds"><h2>{title}</h2>{body}</section>\n'
    from matplotlib.ticker import PercentFormatter

    fig = _new_figure(10.0, 3.5)
    left, right = fig.subplots(1, 2)
    shares = [
        feeds.users_with_feed / max(1, feeds.users_total),
        feeds.items_in_feeds / max(1, feeds.items_total),
    ]
    bars = left.barh(["users with a feed", "catalogue in feeds"], shares, color=["#2a6fdb", "#1b7f3b"])
    left.bar_label(bars, labels=[f"{s:.0%}" for s in shares], padding=3)
    left.set_xlim(0, 1.15)
    left.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    left.set_title("coverage")
    in_days = bool(feeds.ages_hours) and max(feeds.ages_hours) > 72  # hours past three days are hard to read
    unit, scale = ("days", 24.0) if in_days else ("hours", 1.0)
    if feeds.ages_hours:
        right.hist([a / scale for a in feeds.ages_hours], bins=24, color="#e0a100")
        _whole_numbers(right.yaxis)
    else:
        right.text(0.5, 0.5, "no feed yet", ha="center", va="center", transform=right.transAxes, color="#555")
    right.set_xlabel(f"feed age ({unit})")
    right.set_ylabel("feeds")
    right.set_title("freshness")
    ages = sorted(feeds.ages_hours)
    median = f"median age {ages[len(ages) // 2] / scale:.1f} {unit[0]}" if ages else "no feed to age yet"
    caption = f"{feeds.users_with_feed:,} of {_plural(feeds.users_total, 'user')} have a feed; {median}."
    return f'<section data-section="feeds"><h2>{title}</h2>{_figure("feeds", fig, caption)}</section>\n'


def _pct(v: float | None) -> str:
    return f"{v:+.1%}" if v is not None else "-"


def _experiments(looks: Sequence[ExperimentLook]) -> str:
    """Per test: its arms' exposure, and each lift as a point with its always-valid interval."""
    parts = []
    for look in looks:
        arms = "".join(
            f"<tr><td>{html.escape(a.arm)}</td><td>{a.readers:,}</td><td>{a.impressions:,.0f}</td>"
            f"<td>{a.clicks:,.0f}</td><td>{_num(a.clicks_per_reader)}</td><td>{_num(a.clicks_per_impression)}</td></tr>"
            for a in look.arms
        )
        lifts = "".join(
            f"<tr><td>{html.escape(x.label)}</td><td>{_pct(x.lift)}</td><td>{_pct(x.low)} .. {_pct(x.high)}</td>"
            f"<td>{_pct(x.cuped_reduction).lstrip('+')}</td></tr>"
            for x in look.lifts
        )
        srm = f"{look.srm_p:.3g}" if look.srm_p is not None else "-"
        head = (
            f"<h3>{html.escape(look.experiment_id)}: {html.escape(look.action)} after {look.days} day(s)"
            f" (sample-ratio p = {srm})</h3>"
        )
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in look.reasons)
        parts.append(
            head
            + "<table><tr><th>arm</th><th>readers</th><th>impressions</th><th>feed clicks</th>"
            + f"<th>clicks / reader</th><th>clicks / impression</th></tr>{arms}</table>"
            + "<table><tr><th>lift</th><th>estimate</th><th>always-valid interval</th>"
            + f"<th>CUPED variance reduction</th></tr>{lifts}</table><ul>{reasons}</ul>"
            + _lift_plot(look)
        )
    return "".join(parts)


def _simulated_arms(arms: Sequence[SimulatedArm]) -> str:
    """Per test and arm: clicks per exposed reader with its 95 % interval, the lift over control, and the
    expected clicks of one look at the arm's feeds beside the oracle feed's."""

    def interval(v: float | None, low: float | None, high: float | None, fmt: Callable[[float | None], str]) -> str:
        return "no data" if v is None else f"{fmt(v)} [{fmt(low)}, {fmt(high)}]"

    rows = "".join(
        f"<tr><td>{html.escape(a.test)}</td><td>{html.escape(a.arm)}</td><td>{a.readers:,}</td>"
        f"<td>{interval(a.clicks_per_reader, a.low, a.high, _num)}</td>"
        f"<td>{'-' if a.arm == 'control' else interval(a.lift, a.lift_low, a.lift_high, _pct)}</td>"
        f"<td>{_num(a.expected_served)}</td><td>{_num(a.expected_oracle)}</td></tr>"
        for a in arms
    )
    return (
        "<table><tr><th>test</th><th>arm</th><th>exposed readers</th><th>feed clicks / reader [95 %]</th>"
        "<th>lift over control [95 %]</th><th>expected clicks / look: feed</th><th>oracle</th></tr>"
        f"{rows}</table>"
    )


def _num(v: float | None) -> str:
    return f"{v:.4f}" if v is not None else "-"


def _lift_plot(look: ExperimentLook) -> str:
    shown = [x for x in look.lifts if x.lift is not None and x.low is not None and x.high is not None]
    if not shown:
        return ""
    fig = _new_figure(8.0, 0.6 + 0.5 * len(shown))
    ax = fig.subplots()
    ys = list(range(len(shown)))
    values = [x.lift or 0.0 for x in shown]
    errors = [
        [v - (x.low or 0.0) for v, x in zip(values, shown, strict=True)],
        [(x.high or 0.0) - v for v, x in zip(values, shown, strict=True)],
    ]
    ax.errorbar(values, ys, xerr=errors, fmt="o", color="#2a6fdb", capsize=4)
    ax.axvline(0.0, color="#888888", linewidth=1)
    ax.set_yticks(ys, [x.label for x in shown])
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:+.0%}")
    return _figure(f"lift-{look.experiment_id}", fig, "Relative lift with its always-valid interval (0: no change).")
