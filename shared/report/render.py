"""One self-contained HTML file from :class:`ReportData`: inline CSS and inline SVG plots, no URL fetched.

Plots are drawn with matplotlib (the ``report`` extra) straight to SVG with text as paths, so the page
looks the same without any font or network. A section without a data source renders a "no data yet"
panel naming what will fill it.
"""

from __future__ import annotations

import html
import io
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from shared.personalize.metrics import metric_label
from shared.report.data import (
    Alert,
    DailyCount,
    ExperimentLook,
    ExportRun,
    FeedDay,
    FeedSnapshot,
    ImportRun,
    ReasonCount,
    ReportData,
    SimulatedArm,
    SolutionVersion,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EVENT_ORDER = ("open", "read", "like", "save", "comment")
DATASETS = ("interactions", "items", "users")
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
    "held": ("#e0a100", "s"),
    "pending": ("#b8860b", "P"),
    "training": ("#aaaaaa", "."),
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
text-align:right}th:first-child,td:first-child,.text{text-align:left}
"""


def render_html(data: ReportData) -> str:
    """The whole report as one HTML document."""
    period = _period(data)
    sections = [
        _section(
            "interactions",
            "Interactions per day, by type",
            data.interactions_per_day,
            lambda rows: _interactions(rows, period),
            "ml_interactions counts by TIMESTAMP day (Firestore count()).",
        ),
        _section(
            "quarantine",
            "Quarantined documents, per day and by reason",
            data.quarantine,
            lambda rows: _quarantine_per_day(data.quarantine_per_day, period) + _quarantine(rows),
            "ml_quarantine counts by reason.",
            empty="Nothing quarantined: every client write was valid.",
        ),
        _section(
            "exports",
            "Daily exports",
            data.exports,
            lambda runs: _exports(runs, period),
            "The export manifests in the backup bucket.",
        ),
        _section(
            "imports",
            "Imports into Personalize, per export day",
            data.imports,
            lambda runs: _imports(runs, period),
            "The dataset import jobs (Personalize), filled when the report reads the AWS stage.",
            empty="No import job yet: the first export's import starts once its manifest lands in S3.",
        ),
        _section(
            "solutions",
            "Solution versions: offline metrics and promotion decisions",
            data.solution_versions,
            _solutions,
            "Filled once the train/promote stage records its solution versions.",
            empty="No solution version yet: the first training runs on the 1st of the month (or `storyrec train`).",
        ),
        _feeds_section(data.feeds, data.feed_days, period),
        _section(
            "experiments",
            "Online tests: arms, exposure, lift with its always-valid interval, verdict",
            data.experiments,
            _experiments,
            "Filled once the monitor looks at a test (promotion mode online, or the control arm's holdout).",
            empty="No online test looked at yet: the monitor looks once a campaign serves and arms are exposed.",
        ),
        _section(
            "alerts",
            "Alerts sent, per day",
            data.alerts,
            lambda alerts: _alerts(alerts, period),
            "The AWS stage's alert markers (S3 state), filled when the report reads the AWS stage.",
            empty="No alert sent.",
        ),
    ]
    if data.simulated_arms is not None:
        sections.append(
            _section(
                "simulated-arms",
                "Simulation: the arms' lift beside the oracle",
                data.simulated_arms,
                lambda arms: _simulated_arms(arms) + _quality_plot(data.feed_days or ()),
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
    name: str,
    title: str,
    rows: Sequence[Any] | None,
    draw: Callable[[Sequence[Any]], str],
    source: str,
    empty: str = "",
) -> str:
    """``rows`` None: no source connected; empty: the source had nothing (``empty`` says what that means)."""
    if rows is None:
        body = _empty(f"No data yet: no data source is connected. {source}")
    elif not rows:
        body = _empty(empty or f"No data yet: the source has nothing to show. {source}")
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
    if data.alerts is not None:
        tiles.append(("alerts", f"{len(data.alerts):,}"))
    if data.feeds:
        tiles.append(("users with a feed", f"{data.feeds.users_with_feed:,} / {data.feeds.users_total:,}"))
    cells = "".join(f'<div class="tile">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in tiles)
    return f'<div class="tiles">{cells}</div>'


def _svg(name: str, fig: Figure) -> str:
    from matplotlib import rc_context

    buf = io.StringIO()
    with rc_context({"svg.fonttype": "path", "svg.hashsalt": name}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = _XML_PROLOGUE.sub("", buf.getvalue())
    # several SVGs share one HTML document: give each its own id namespace (glyphs, clip paths, groups)
    return _ID_REF.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", svg)


def _wrap(name: str, svg: str, caption: str) -> str:
    return f'<figure class="plot" data-plot="{name}">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'


def _figure(name: str, fig: Figure, caption: str) -> str:
    return _wrap(name, _svg(name, fig), caption)


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


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def _few_days(days: int) -> str:
    if days >= FEW_DAYS:
        return ""
    return f" Only {_plural(days, 'day')} so far: too little data to show a trend."


def _daily_bars(
    name: str,
    series: dict[str, dict[date, int]],
    ylabel: str,
    height: float = 4.0,
    colours: dict[str, str] | None = None,
    period: Period | None = None,
) -> tuple[str, int, int]:
    """Stacked bars per day, one colour per series (a legend only with more than one); the figure's SVG,
    the total and the number of days with a bar. The x axis spans ``period`` (the report's days) when given,
    so rare events (alerts, quarantine) stand in their month, not alone on an axis of their own days."""
    fig, total, days = _bars_figure(series, ylabel, height, colours, period)
    return _svg(name, fig), total, days


Period = tuple[date, date]


def _period(data: ReportData) -> Period | None:
    """First and last day the report's daily data covers (None: no daily data)."""
    days = [r.day for r in data.interactions_per_day or ()] + [r.day for r in data.exports or ()]
    days += [r.day for r in data.imports or ()] + [r.day for r in data.quarantine_per_day or ()]
    days += [d.day for d in data.feed_days or ()] + [a.sent_at.date() for a in data.alerts or () if a.sent_at]
    return (min(days), max(days)) if days else None


def _span(days: Sequence[date], period: Period | None) -> int:
    """Days a plot covers: its period's, or its own first to last."""
    first, last = period or (min(days), max(days))
    return (last - first).days + 1


def _bars_figure(
    series: dict[str, dict[date, int]],
    ylabel: str,
    height: float = 4.0,
    colours: dict[str, str] | None = None,
    period: Period | None = None,
) -> tuple[Figure, int, int]:
    days = sorted({d for counts in series.values() for d in counts})
    fig = _new_figure(10.0, height)
    ax = fig.add_subplot()
    bottom = [0] * len(days)
    for label, counts in series.items():
        values = [counts.get(d, 0) for d in days]
        colour = (colours or {}).get(label)
        ax.bar(_dates(days), values, bottom=bottom, label=label, width=0.8, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel(ylabel)
    _whole_numbers(ax.yaxis)
    _date_axis(ax, list(period) if period else days)
    if len(series) > 1:
        ax.legend(ncols=len(series), loc="lower left", bbox_to_anchor=(0, 1), frameon=False)
    fig.autofmt_xdate()
    return fig, sum(bottom), len(days)


def _interactions(rows: Sequence[DailyCount], period: Period | None = None) -> str:
    types = [t for t in EVENT_ORDER if any(r.event_type == t for r in rows)]
    types += sorted({r.event_type for r in rows} - set(types))
    counts: dict[str, dict[date, int]] = {t: {} for t in types}
    for r in rows:
        counts[r.event_type][r.day] = counts[r.event_type].get(r.day, 0) + r.count
    svg, total, days = _daily_bars("interactions-per-day", counts, "interactions", period=period)
    caption = f"{_plural(total, 'interaction')} over {_plural(days, 'day')}.{_few_days(days)}"
    return _wrap("interactions-per-day", svg, caption)


def _quarantine_per_day(rows: Sequence[DailyCount] | None, period: Period | None = None) -> str:
    if not rows:
        return ""
    counts: dict[date, int] = {}
    for r in rows:
        counts[r.day] = counts.get(r.day, 0) + r.count
    svg, total, days = _daily_bars(
        "quarantine-per-day", {"quarantined": counts}, "documents", 2.5, {"quarantined": "#c0392b"}, period
    )
    caption = (
        f"{_plural(total, 'document')} quarantined, on {_plural(days, 'day')} (by quarantined_at)."
        f"{_few_days(_span(list(counts), period))}"
    )
    return _wrap("quarantine-per-day", svg, caption)


def _imports(runs: Sequence[ImportRun], period: Period | None = None) -> str:
    """Import jobs started per day, by dataset; failed ones in their own colour, the last days as a table."""
    datasets = sorted({r.dataset for r in runs})
    series: dict[str, dict[date, int]] = {d: {} for d in datasets}
    columns = sorted({*datasets, *DATASETS})  # interactions too: a held day shows as "-" beside its stories
    failed: dict[date, int] = {}
    for r in runs:
        bucket = failed if "FAILED" in r.status else series[r.dataset]
        bucket[r.day] = bucket.get(r.day, 0) + 1
    if failed:
        series["failed"] = failed
    svg, total, days = _daily_bars("imports-per-day", series, "import jobs", 3.0, {"failed": "#c0392b"}, period)
    n_failed = sum(failed.values())
    caption = (
        f"{_plural(total, 'import job')} for {_plural(days, 'export day')}"
        f"{f', {n_failed:,} failed' if n_failed else ''} (table: the last 14). A day without an "
        f"interactions import was held, and imported with a later day once the held days reached the minimum."
        f"{_few_days(_span([r.day for r in runs], period))}"
    )
    by_day: dict[date, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        by_day[r.day][r.dataset].append(r.status.lower())
    head = "".join(f"<th>{html.escape(d)}</th>" for d in columns)
    body = "".join(
        f"<tr><td>{day.isoformat()}</td>"
        + "".join(f"<td>{html.escape(', '.join(by_day[day].get(d, [])) or '-')}</td>" for d in columns)
        + "</tr>"
        for day in sorted(by_day)[-14:]
    )
    return _wrap("imports-per-day", svg, caption) + f"<table><tr><th>export day</th>{head}</tr>{body}</table>"


ALERTS_LISTED = 20


def _alerts(alerts: Sequence[Alert], period: Period | None = None) -> str:
    """Alerts per day (by subject's first words) and the newest ones, word for word."""
    dated = [a for a in alerts if a.sent_at is not None]
    parts = []
    if dated:
        series: dict[str, dict[date, int]] = {}
        for a in dated:
            assert a.sent_at is not None
            kind = _alert_kind(a.subject)
            day = a.sent_at.date()
            series.setdefault(kind, {})[day] = series.get(kind, {}).get(day, 0) + 1
        svg, total, days = _daily_bars("alerts-per-day", dict(sorted(series.items())), "alerts", 3.0, None, period)
        span = _span([a.sent_at.date() for a in dated if a.sent_at], period)
        kinds = ", by kind" if len(series) > 1 else f", all {next(iter(series))!r}"
        caption = f"{_plural(total, 'alert')} on {_plural(days, 'day')}{kinds}.{_few_days(span)}"
        parts.append(_wrap("alerts-per-day", svg, caption))
    newest = sorted(alerts, key=lambda a: a.sent_at.isoformat() if a.sent_at else "", reverse=True)[:ALERTS_LISTED]
    rows = "".join(
        f"<tr><td>{a.sent_at.strftime('%Y-%m-%d %H:%M') if a.sent_at else '-'}</td>"
        f'<td class="text">{html.escape(a.subject)}</td></tr>'
        for a in newest
    )
    listed = f"the newest {ALERTS_LISTED} of {len(alerts):,}" if len(alerts) > ALERTS_LISTED else "all"
    head = '<tr><th>sent (UTC)</th><th class="text">subject</th></tr>'
    parts.append(f"<p>Subjects, newest first ({listed}):</p><table>{head}{rows}</table>")
    return "".join(parts)


def _alert_kind(subject: str) -> str:
    """The subject without what names one instance (a date, a version, a run): ``storyrec import failed``."""
    words = subject.split(":", 1)[0].split()
    kept = [w for w in words if not any(c.isdigit() for c in w)]
    return " ".join(kept[:4]) or subject[:30]


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


def _exports(runs: Sequence[ExportRun], period: Period | None = None) -> str:
    ordered = sorted(runs, key=lambda r: r.day)
    datasets = sorted({d for r in ordered for d in r.rows})
    head = "".join(f"<th>{html.escape(d)} rows</th>" for d in datasets)
    body = "".join(
        f"<tr><td>{r.day.isoformat()}</td>"
        + "".join(f"<td>{r.rows.get(d, 0):,}</td>" for d in datasets)
        + f"<td>{sum(r.rejected.values()):,}</td><td>{html.escape(r.run_id)}</td></tr>"
        for r in ordered[-14:]
    )
    fig = _export_figure(ordered, datasets, period)
    days = len({r.day for r in ordered})
    caption = f"{_plural(len(ordered), 'export run')} (table: the last 14).{_few_days(days)}"
    plot = _figure("export-rows", fig, caption)
    table = f"<table><tr><th>date</th>{head}<th>rejected</th><th>run</th></tr>{body}</table>"
    return plot + table


def _export_figure(ordered: Sequence[ExportRun], datasets: Sequence[str], period: Period | None = None) -> Figure:
    fig = _new_figure(10.0, 3.0)
    ax = fig.add_subplot()
    marker = "o" if len(ordered) <= 31 else None
    for d in datasets:
        ax.plot(_dates([r.day for r in ordered]), [r.rows.get(d, 0) for r in ordered], marker=marker, label=d)
    ax.set_ylabel("rows exported")
    top = max((r.rows.get(d, 0) for r in ordered for d in datasets), default=0)
    ax.set_ylim(0, max(1.0, top * 1.08))  # from zero: a few rows' change must not look like a collapse
    _whole_numbers(ax.yaxis)
    _date_axis(ax, list(period) if period else [r.day for r in ordered])
    ax.legend(ncols=len(datasets), loc="lower left", bbox_to_anchor=(0, 1), frameon=False)
    fig.autofmt_xdate()
    return fig


def _solutions(versions: Sequence[SolutionVersion]) -> str:
    ordered = sorted(versions, key=lambda v: v.created)
    key_metric = METRICS[0]
    rows = "".join(
        f"<tr><td>{html.escape(v.name)}</td><td>{v.created:%Y-%m-%d}</td><td>{html.escape(v.decision)}</td>"
        f'<td>{_metric(v.metrics.get(key_metric))}</td><td class="text">{html.escape(v.reason)}</td></tr>'
        for v in ordered
    )
    table = (
        "<table><tr><th>version</th><th>date</th><th>decision</th>"
        f'<th>{_short(key_metric)}</th><th class="text">why</th></tr>{rows}</table>'
    )
    if not any(m in v.metrics for v in ordered for m in METRICS):
        return _empty(f"{_plural(len(ordered), 'solution version')}, none with offline metrics to plot.") + table
    caption = (
        f"{_plural(len(ordered), 'solution version')}; markers on {_short(key_metric)} show each promotion "
        "decision (a version without metrics sits on the bottom edge)."
    )
    if len(ordered) < 2:
        caption += " One version so far: nothing to compare it with yet."
    return _figure("solution-metrics", _solutions_figure(ordered), caption) + table


def _metric(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _solutions_figure(ordered: Sequence[SolutionVersion]) -> Figure:
    """Each metric over the versions; a marker per decision, on the key metric (on the bottom edge when the
    version has none), and a legend entry only for what is drawn."""
    fig = _new_figure()
    ax = fig.add_subplot()
    x = list(range(len(ordered)))
    for metric in METRICS:  # markers too: a single version has no line to draw
        if any(metric in v.metrics for v in ordered):
            values = [v.metrics.get(metric, float("nan")) for v in ordered]
            ax.plot(x, values, label=_short(metric), alpha=0.8, marker=".")
    key_metric = METRICS[0]
    edge = ax.get_xaxis_transform()  # x in data, y in axes: 0 is the bottom edge
    for decision, (colour, marker) in DECISION_STYLE.items():
        chosen = [i for i, v in enumerate(ordered) if v.decision == decision]
        scored = [i for i in chosen if key_metric in ordered[i].metrics]
        unscored = [i for i in chosen if key_metric not in ordered[i].metrics]
        if scored:
            ys = [ordered[i].metrics[key_metric] for i in scored]
            ax.scatter(scored, ys, color=colour, marker=marker, s=120, zorder=3, label=decision)
        if unscored:
            ax.scatter(unscored, [0.03] * len(unscored), color=colour, marker=marker, s=120, zorder=3,
                       transform=edge, clip_on=False, label=f"{decision} (no metrics)")
    ax.set_xticks(x, [f"{v.name}\n{v.created:%Y-%m-%d}" for v in ordered], fontsize=8)
    ax.set_xlim(-0.5, len(ordered) - 0.5)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("offline metric")
    if len(ordered) > 8:
        fig.autofmt_xdate(rotation=45, ha="right")
    ax.legend(ncols=5, loc="lower left", bbox_to_anchor=(0, 1), frameon=False, fontsize=8)
    return fig


def _short(metric: str) -> str:
    return metric_label(metric)


def _age(hours: float) -> str:
    """An age in the unit a reader takes in: hours up to three days, days past them."""
    return f"{hours:.1f} h" if hours <= 72 else f"{hours / 24:.1f} d"


REFRESHED_HOURS = 26.0  # "within a day": a daily fill's feeds, with two hours for the fill's own run
FEED_AGE_GROUPS = (  # (legend label, colour)
    ("refreshed within a day", "#1b7f3b"),
    ("kept, marked stale", "#e0a100"),
    ("older, not stale", "#8c8c8c"),
)


def _feed_age_groups(feeds: FeedSnapshot) -> tuple[list[float], list[float], list[float]]:
    """The feeds' ages split as the fill left them: refreshed within a day, kept stale after a failed
    refresh, and older without a failure (the feeds of readers the fill no longer counts as active)."""
    stale_left = Counter(feeds.stale_ages_hours)
    fresh: list[float] = []
    older: list[float] = []
    for age in feeds.ages_hours:
        if stale_left[age] > 0:
            stale_left[age] -= 1
        else:
            (fresh if age <= REFRESHED_HOURS else older).append(age)
    return fresh, sorted(feeds.stale_ages_hours), older


def _feeds_figure(feeds: FeedSnapshot) -> Figure:
    """Coverage now (readers, catalogue) beside a histogram of the feeds' ages, stacked by how the fill left them."""
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
    left.set_title("coverage now")
    in_days = bool(feeds.ages_hours) and max(feeds.ages_hours) > 72  # hours past three days are hard to read
    unit, scale = ("days", 24.0) if in_days else ("hours", 1.0)
    groups = [
        (ages, label, colour)
        for ages, (label, colour) in zip(_feed_age_groups(feeds), FEED_AGE_GROUPS, strict=True)
        if ages
    ]
    if groups:
        right.hist(
            [[a / scale for a in ages] for ages, _, _ in groups],
            bins=24,
            stacked=True,
            color=[colour for _, _, colour in groups],
            label=[label for _, label, _ in groups],
        )
        if len(groups) > 1:
            right.legend(frameon=False, fontsize=8)
        _whole_numbers(right.yaxis)
    else:
        right.text(0.5, 0.5, "no feed yet", ha="center", va="center", transform=right.transAxes, color="#555")
    right.set_xlabel(f"feed age ({unit})")
    right.set_ylabel("feeds")
    right.set_title("freshness now")
    return fig


def _feeds_caption(feeds: FeedSnapshot) -> str:
    fresh, stale, older = _feed_age_groups(feeds)
    parts = []
    if fresh:
        parts.append(f"{len(fresh):,} refreshed within a day (median age {_age(statistics.median(fresh))})")
    if stale:
        parts.append(f"{len(stale):,} kept and marked stale after a failed refresh (oldest {_age(max(stale))})")
    if older:
        parts.append(
            f"{len(older):,} older and not marked stale (median {_age(statistics.median(older))}, "
            f"oldest {_age(max(older))})"
        )
    window = f"the last {_plural(feeds.active_days, 'day')}" if feeds.active_days else "recent days"
    why = (
        f": the fill refreshes only the feeds of readers active in {window}, so these readers have gone quiet, "
        "unless the fills stopped" if older else ""
    )
    ages = "; ".join(parts) if parts else "no feed to age yet"
    stories = f"{feeds.items_in_feeds:,} of {_plural(feeds.items_total, 'story', 'stories')}"
    return (
        f"Now: {feeds.users_with_feed:,} of {_plural(feeds.users_total, 'user')} have a feed; {ages}{why}"
        + (f". The feeds use {stories}." if why else f"; the feeds use {stories}.")
    )


def _feeds_section(
    feeds: FeedSnapshot | None, history: Sequence[FeedDay] | None = None, period: Period | None = None
) -> str:
    title = "Feeds: coverage and freshness"
    daily = _feed_days(history, period) if history else ""
    if feeds is None:
        body = _empty("No data yet: no data source is connected. Filled once the recommend stage writes feeds.")
        return f'<section data-section="feeds"><h2>{title}</h2>{daily}{body}</section>\n'
    figure = _figure("feeds", _feeds_figure(feeds), _feeds_caption(feeds))
    return f'<section data-section="feeds"><h2>{title}</h2>{daily}{figure}</section>\n'


def _feed_days(history: Sequence[FeedDay], period: Period | None = None) -> str:
    """Each morning's fill: readers with a personalized or a popular feed, stale or missing ones."""
    rows = sorted(history, key=lambda d: d.day)
    series = {
        "personalized": {d.day: d.personalized for d in rows},
        "popular": {d.day: d.popular for d in rows},
        "stale (kept from before)": {d.day: d.stale for d in rows},
        "missing": {d.day: d.missing for d in rows},
    }
    series = {k: v for k, v in series.items() if any(v.values())}
    colours = {"personalized": "#1b7f3b", "popular": "#2a6fdb", "stale (kept from before)": "#e0a100",
               "missing": "#c0392b"}
    if not series:
        return _empty("No feed fill has run yet.")
    svg, _total, days = _daily_bars("feeds-per-day", series, "readers", 3.0, colours, period)
    last = rows[-1]
    caption = (
        f"Each morning's fill over {_plural(days, 'day')}; the last ({last.day.isoformat()}): "
        f"{last.personalized:,} personalized, {last.popular:,} popular, {last.stale:,} stale, "
        f"{last.missing:,} missing of {_plural(last.readers, 'reader')}.{_few_days(days)}"
    )
    return _wrap("feeds-per-day", svg, caption)


def _quality_plot(history: Sequence[FeedDay]) -> str:
    """Expected clicks of one look per morning: the served feed, the plain latest list, the oracle."""
    rows = sorted((d for d in history if d.expected_feed is not None), key=lambda d: d.day)
    if not rows:
        return ""
    if len(rows) < FEW_DAYS:
        return _empty(
            f"Expected clicks per look, measured on {_plural(len(rows), 'morning')} so far: too little data to "
            "show a trend (the table above has the run's values)."
        )
    fig = _new_figure(10.0, 3.0)
    ax = fig.add_subplot()
    days = [d.day for d in rows]
    for label, values, colour in (
        ("oracle", [d.expected_oracle for d in rows], "#7b3fb5"),
        ("latest list", [d.expected_latest for d in rows], "#888888"),
        ("served feed", [d.expected_feed for d in rows], "#1b7f3b"),
    ):
        ax.plot(_dates(days), [float("nan") if v is None else v for v in values], label=label, color=colour)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("expected clicks / look")
    _date_axis(ax, days)
    ax.legend(ncols=3, loc="lower left", bbox_to_anchor=(0, 1), frameon=False)
    fig.autofmt_xdate()
    caption = (
        f"The generator's expected clicks of one look at each reader's feed, the latest list and the oracle "
        f"feed, over {_plural(len(rows), 'morning')}."
    )
    return _figure("expected-clicks-per-day", fig, caption)


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
