"""The report opened in headless Chromium: every plot is laid out and paints pixels; empty panels show."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.report import ReportData, render_html
from tests.integration.ops.conftest import run_chromium
from tests.unit.ops.report_samples import full_report_data, today_report_data

pytestmark = pytest.mark.integration
WIDTH = 1200
# Test-only instrumentation appended to a copy of the report: runs after the whole (inline) page is
# parsed and records where each plot was laid out and how many shapes its SVG holds.
PROBE = """<script>
(() => {
  const plots = [...document.querySelectorAll('figure.plot')].map(f => {
    const svg = f.querySelector('svg'); const r = svg.getBoundingClientRect();
    return {plot: f.dataset.plot, x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,
            shapes: svg.querySelectorAll('path, use').length};
  });
  const empty = [...document.querySelectorAll('[data-empty]')].map(e => e.getBoundingClientRect().height);
  document.body.setAttribute('data-probe', JSON.stringify(
    {plots, empty, height: document.documentElement.scrollHeight}));
})();
</script>"""


def _open(chromium: str, tmp_path: Path, data: ReportData) -> tuple[dict[str, Any], Any]:
    """Render, probe the layout with --dump-dom, then screenshot the whole page; return (probe, pixels)."""
    from matplotlib.image import imread

    page = tmp_path / "report.html"
    page.write_text(render_html(data).replace("</body>", PROBE + "</body>"), encoding="utf-8")
    common = ("--force-device-scale-factor=1", f"--window-size={WIDTH},1000")
    dom = run_chromium(chromium, tmp_path / "profile-dom", *common, "--dump-dom", page.as_uri())
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, "the probe did not run: the page did not load in Chromium"
    probe = json.loads(html.unescape(found.group(1)))
    shot = tmp_path / "report.png"
    run_chromium(
        chromium,
        tmp_path / "profile-shot",
        "--force-device-scale-factor=1",
        f"--window-size={WIDTH},{probe['height']}",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    return probe, imread(str(shot))


def _painted(pixels: Any, plot: dict[str, Any]) -> float:
    """Share of the plot's area that is not white."""
    x, y, w, h = (int(plot[k]) for k in ("x", "y", "w", "h"))
    region = pixels[y : y + h, x : x + w, :3]
    assert region.size, f"{plot['plot']} lies outside the screenshot"
    return float((region.min(axis=2) < 0.9).mean())


def test_every_plot_renders_in_chromium(chromium: str, tmp_path: Path) -> None:
    probe, pixels = _open(chromium, tmp_path, full_report_data())
    plots = {p["plot"]: p for p in probe["plots"]}
    assert set(plots) == {
        "interactions-per-day", "quarantine-per-day", "quarantine-reasons", "export-rows", "imports-per-day",
        "solution-metrics", "feeds-per-day", "feeds", "lift-test-v5-vs-v4", "alerts-per-day",
    }
    assert probe["empty"] == []
    for name, plot in plots.items():
        assert plot["w"] > 500 and plot["h"] > 100, (name, plot)
        assert plot["shapes"] > 20, (name, plot)
        assert _painted(pixels, plot) > 0.03, f"{name} is blank in the screenshot"


def test_sections_without_data_render_their_panels(chromium: str, tmp_path: Path) -> None:
    probe, pixels = _open(chromium, tmp_path, today_report_data())
    assert {p["plot"] for p in probe["plots"]} == {"interactions-per-day", "export-rows"}
    assert len(probe["empty"]) == 6 and all(h > 20 for h in probe["empty"])
    for plot in probe["plots"]:
        assert _painted(pixels, plot) > 0.03
