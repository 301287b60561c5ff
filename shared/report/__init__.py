"""``storyrec report``: the pipeline's state as one self-contained HTML file."""

from shared.report.data import (
    DailyCount,
    ExportRun,
    FeedSnapshot,
    ReasonCount,
    ReportData,
    SolutionVersion,
)
from shared.report.gather import gather_report_data
from shared.report.render import render_html

__all__ = [
    "DailyCount",
    "ExportRun",
    "FeedSnapshot",
    "ReasonCount",
    "ReportData",
    "SolutionVersion",
    "gather_report_data",
    "render_html",
]
