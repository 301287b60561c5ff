"""The benchmark harness's arithmetic and its docs section (the benchmarks themselves are not run here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import harness

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.3, 2.0])
def test_growth_is_the_log_log_slope(exponent: float) -> None:
    points = [(n, 3.0 * n**exponent) for n in (20_000, 100_000, 1_000_000)]
    assert harness.growth(points) == pytest.approx(exponent, abs=1e-3)


def test_growth_needs_two_sizes() -> None:
    assert harness.growth([(10, 1.0)]) is None


RESULTS: dict[str, Any] = {
    "mode": "quick",
    "finished": "2026-12-06T05:00:00+00:00",
    "command": "python benchmarks/harness.py --quick",
    "load_before": 1.0,
    "load_after": 2.0,
    "machine": {"cpu": "cpu", "cores": 2, "memory_gib": 24.0, "python": "3.11.7", "commit": "abc"},
    "benchmarks": {
        "feeds": {"sizes": [{"users": 1000, "raw_users_per_s": [500.0], "fill_users_per_s": [400.0],
                             "ratios": [0.8], "median_ratio": 0.8, "fixed_run_s": [0.3], "extra_s": [0.5],
                             "load_avg_1m_each": [2.0], "command": "x"}]},
        "simulation": {"status": "not built yet (issue #24)"},
    },
}


def test_the_docs_section_is_replaced_between_its_markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nintro\n\n## Export\n\nhand-written\n")
    monkeypatch.setattr(harness, "DOC", doc)
    harness.write_docs({"quick": RESULTS})
    harness.write_docs({"quick": RESULTS})  # a second run replaces, never duplicates
    text = doc.read_text()
    assert text.count("<!-- harness:begin -->") == 1 and text.index("harness:end") < text.index("## Export")
    assert "| 1,000 | 500 | 400 | 0.80 | 0.8 | **no** | 0.5 | 0.3 |" in text  # load 2: a quiet machine
    assert "not built yet (issue #24)" in text and "hand-written" in text
