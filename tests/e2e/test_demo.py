"""`make demo` runs every step green and leaves no process behind."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from infra.local.demo import run_demo
from infra.local.stack import LocalStack

pytestmark = pytest.mark.e2e


def test_demo_runs_green_and_stops_the_stack(tmp_path: Path) -> None:
    out = io.StringIO()
    code = run_demo(tmp_path, console=Console(file=out, width=200))
    text = out.getvalue()
    assert code == 0, text
    assert "FAILED" not in text and "SKIPPED" not in text
    assert "clicks:captured=1500" in text and "'duplicate': 1500" in text
    assert "interactions=1500, items=90, users=60 rows" in text and "byte-identical" in text
    assert "campaign ACTIVE" in text
    assert all(state == "down" for state in LocalStack(tmp_path).status().values())
