"""The report after one day and after many: axes fit the data, too little data is said in words."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from shared.report import render_html
from shared.report.data import DailyCount, ExportRun, FeedSnapshot, ReportData
from shared.report.render import _date_axis
from tests.unit.ops.report_samples import NOW, full_report_data

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
    assert _caption(page, "feeds") == "0 of 21 users have a feed; no feed to age yet."


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
    assert _caption(render_html(weeks), "feeds") == "3 of 3 users have a feed; median age 10.0 d."
    hours = ReportData(**{**data.__dict__, "feeds": FeedSnapshot(3, 3, (1.0, 2.0, 30.0), 24, 5)})
    assert _caption(render_html(hours), "feeds") == "3 of 3 users have a feed; median age 2.0 h."
