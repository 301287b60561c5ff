"""The report after one day and after many: axes fit the data, too little data is said in words."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest

from shared.report import render_html
from shared.report.data import DailyCount, ExportRun, FeedSnapshot, ReportData, SolutionVersion
from shared.report.render import _bars_figure, _date_axis, _export_figure, _feeds_figure, _solutions_figure
from tests.unit.ops.report_samples import NOW, full_report_data, run_history

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 28)


def _caption(page: str, plot: str) -> str:
    found = re.search(rf'data-plot="{plot}">.*?<figcaption>(.*?)</figcaption>', page, re.S)
    assert found, plot
    return found.group(1)


def _one_day() -> ReportData:
    return ReportData(
        project="p",
        generated_at=NOW,
        interactions_per_day=(DailyCount(DAY, "open", 1),),
        quarantine=(),
        exports=(ExportRun(DAY, "export-1", {"interactions": 1, "items": 24, "users": 21}, {}),),
        feeds=FeedSnapshot(21, 0, (), 24, 0),
    )


def test_after_one_day_each_plot_over_time_says_it_has_too_little_data() -> None:
    page = render_html(_one_day())
    assert _caption(page, "interactions-per-day") == (
        "1 interaction over 1 day. Only 1 day so far: too little data to show a trend."
    )
    assert "too little data to show a trend" in _caption(page, "export-rows")
    assert _caption(page, "feeds") == (
        "Now: 0 of 21 users have a feed; no feed to age yet; the feeds use 0 of 24 stories."
    )


def test_after_thirty_days_no_plot_claims_too_little_data() -> None:
    page = render_html(full_report_data())
    assert "too little data" not in page
    assert _caption(page, "interactions-per-day").endswith("over 30 days.")


@pytest.mark.parametrize("days", [1, 2, 35, 180])
def test_the_date_axis_spans_the_days_plotted_with_ticks_on_whole_days(days: int) -> None:
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    plotted = [DAY + timedelta(days=n) for n in range(days)]
    _date_axis(ax, plotted)
    low, high = (mdates.num2date(x).date() for x in ax.get_xlim())
    assert (low, high) == (DAY - timedelta(days=1), plotted[-1])  # half a day either side, rounded down
    assert high - low <= timedelta(days=days + 1)
    ticks = [mdates.num2date(t) for t in ax.xaxis.get_major_locator()()]
    assert ticks and all(t.hour == 0 and t.minute == 0 for t in ticks)
    assert 1 <= len(ticks) <= 13


def test_feed_ages_past_three_days_are_told_in_days() -> None:
    data = _one_day()
    weeks = ReportData(**{**data.__dict__, "feeds": FeedSnapshot(3, 3, (1.0, 240.0, 350.0), 24, 5)})
    assert "3 of 3 users have a feed; 1 refreshed within a day (median age 1.0 h); 2 older and not marked stale " \
        "(median 12.3 d, oldest 14.6 d)" in _caption(render_html(weeks), "feeds")
    hours = ReportData(**{**data.__dict__, "feeds": FeedSnapshot(3, 3, (1.0, 2.0, 20.0), 24, 5)})
    assert "3 of 3 users have a feed; 3 refreshed within a day (median age 2.0 h);" in _caption(
        render_html(hours), "feeds"
    )


def test_a_fresh_median_beside_a_month_old_feed_keeps_its_hours() -> None:
    """Most feeds filled this morning, one left a month ago: "median 0.0 d" would hide the morning's fill."""
    data = replace(_one_day(), feeds=FeedSnapshot(3, 3, (2.0, 3.0, 720.0), 24, 5))
    assert "2 refreshed within a day (median age 2.5 h); 1 older and not marked stale (median 30.0 d, oldest " \
        "30.0 d)" in _caption(render_html(data), "feeds")


def test_feeds_the_fill_left_alone_are_told_apart_from_the_mornings_fill() -> None:
    """After months, readers who went quiet keep feeds months old beside this morning's: the caption and the
    histogram say which feeds the fill refreshed, which it kept marked stale, and which it leaves by design."""
    ages = (2.0, 3.0, 50.0, 30 * 24.0, 100 * 24.0)
    feeds = FeedSnapshot(5, 5, ages, 24, 5, stale_ages_hours=(50.0,), active_days=30)
    page = render_html(replace(_one_day(), feeds=feeds))
    assert _caption(page, "feeds") == (
        "Now: 5 of 5 users have a feed; 2 refreshed within a day (median age 2.5 h); 1 kept and marked stale "
        "after a failed refresh (oldest 50.0 h); 2 older and not marked stale (median 65.0 d, oldest 100.0 d): "
        "the fill refreshes only the feeds of readers active in the last 30 days, so these readers have gone "
        "quiet, unless the fills stopped. The feeds use 5 of 24 stories."
    )
    freshness = _feeds_figure(feeds).axes[1].get_legend()
    assert [t.get_text() for t in freshness.get_texts()] == [
        "refreshed within a day", "kept, marked stale", "older, not stale"
    ]


def test_one_kind_of_feed_needs_no_legend() -> None:
    feeds = FeedSnapshot(2, 2, (1.0, 2.0), 24, 5, active_days=30)
    assert _feeds_figure(feeds).axes[1].get_legend() is None


def _section(page: str, name: str) -> str:
    found = re.search(rf'<section data-section="{name}">(.*?)</section>', page, re.S)
    assert found, name
    return found.group(1)


def _rows(block: str) -> int:
    return block.count("<tr>") - block.count("<tr><th>")


OVER_TIME = ("interactions-per-day", "quarantine-per-day", "export-rows", "imports-per-day", "alerts-per-day")


def test_a_one_day_run_says_too_little_data_under_every_plot_over_time() -> None:
    page = render_html(run_history(1))
    for plot in OVER_TIME[:-1]:
        assert "too little data to show a trend" in _caption(page, plot), plot
    assert "No alert sent." in _section(page, "alerts") and 'data-plot="alerts-per-day"' not in page
    imports = _section(page, "imports")  # the held interactions day still has its column, with "-"
    assert "<th>interactions</th>" in imports and "<td>-</td>" in imports
    # no fill yet after one day: the simulation's expected-clicks plot is absent, not an empty axis
    assert 'data-plot="expected-clicks-per-day"' not in page and 'data-plot="feeds-per-day"' not in page
    assert 'No solution version yet' in _section(page, "solutions")
    assert "No data yet" not in page  # every source connected: an empty one says what its emptiness means


def test_a_180_day_run_reads_without_tripping() -> None:
    page = render_html(run_history(180))
    assert "too little data" not in page
    for plot in (*OVER_TIME, "feeds-per-day", "expected-clicks-per-day", "solution-metrics"):
        assert f'data-plot="{plot}"' in page, plot
    assert _caption(page, "interactions-per-day").endswith("over 180 days.")
    assert _rows(_section(page, "exports").split("</figure>")[1]) == 14  # the table: the last two weeks
    assert _rows(_section(page, "imports").split("</figure>")[1]) == 14
    assert _rows(_section(page, "alerts").split("</figure>")[1]) == 20
    assert "the newest 20 of" in _section(page, "alerts")
    solutions = _section(page, "solutions")
    assert "failed" in solutions and "not enough interactions" in solutions and "serving" in solutions
    assert "serving version<b>v1</b>" in page
    assert len(page.encode()) < 2_000_000
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("days", [1, 180])
def test_the_expected_clicks_plot_needs_three_mornings_and_says_so(days: int) -> None:
    data = run_history(days)
    short = replace(data, feed_days=(data.feed_days or ())[:2])
    page = render_html(short)
    assert ("too little data to show a trend" in _section(page, "simulated-arms")) == (days > 1)


def test_a_single_series_has_no_legend_and_several_have_one_entry_each() -> None:
    one, _total, _days = _bars_figure({"quarantined": {DAY: 3}}, "documents")
    assert one.axes[0].get_legend() is None
    two, _total, _days = _bars_figure({"open": {DAY: 3}, "like": {DAY: 1}}, "interactions")
    legend = two.axes[0].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["open", "like"]


def test_the_export_rows_axis_starts_at_zero() -> None:
    runs = [ExportRun(DAY + timedelta(days=n), "r", {"interactions": 100 + n}) for n in range(3)]
    low, high = _export_figure(runs, ["interactions"]).axes[0].get_ylim()
    assert low == 0 and high >= 102


def _legend(fig: object) -> list[str]:
    legend = fig.axes[0].get_legend()  # type: ignore[attr-defined]
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_the_versions_legend_names_only_what_is_drawn() -> None:
    """A failed version has no metrics: it is drawn on the bottom edge and named so; no metric that no
    version has gets a legend entry."""
    versions = [
        SolutionVersion("v1", NOW - timedelta(days=60), {}, "failed", "no data"),
        SolutionVersion("v2", NOW, {"normalized_discounted_cumulative_gain_at_10": 0.4}, "serving"),
    ]
    assert _legend(_solutions_figure(versions)) == ["NDCG@10", "serving", "failed (no metrics)"]


def test_versions_without_any_metrics_are_a_table_and_words_not_an_empty_plot() -> None:
    data = replace(run_history(40), solution_versions=(SolutionVersion("v1", NOW, {}, "failed", "no data"),))
    block = _section(render_html(data), "solutions")
    assert "data-plot" not in block and "none with offline metrics to plot" in block and "no data" in block


def test_rare_events_are_plotted_across_the_report_s_days_and_not_called_too_few() -> None:
    """Two alerts in a month are two bars in a month, not a trend-less plot of two days."""
    page = render_html(full_report_data())
    assert _caption(page, "alerts-per-day") == "2 alerts on 2 days, by kind."


def test_bars_over_the_report_s_days_share_its_x_range() -> None:
    """One day's bar inside a three-day report spans the report's days, as every other per-day plot does."""
    import matplotlib.dates as mdates

    fig, total, days = _bars_figure({"open": {DAY: 3}}, "interactions", period=(DAY, DAY + timedelta(days=2)))
    low, high = (mdates.num2date(x) for x in fig.axes[0].get_xlim())
    assert (total, days) == (3, 1)
    assert (low.date(), high.date(), low.hour, high.hour) == (DAY - timedelta(days=1), DAY + timedelta(days=2), 12, 12)
