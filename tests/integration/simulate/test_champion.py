"""A simulation long enough for a champion: two monthly trainings on the real local stack, the second judged
against the version the first put in service, through ``make demo``'s command (``storyrec-dev simulate
--demo``) with its window moved into February and fewer readers.

February 2026 is fixed (its 28 days are the shortest month between two trainings, and it stays in the engine's
past); the window is the demo's own (``demo_window``: the final night on the second 1st, the first 1st after
``LEAD_DAYS`` of clicks). The engine trains on at least 1,000 interactions (Personalize's minimum) and held days
import once they reach 1,000 rows: 150 readers click about 65 times a day while nothing serves, so their first
1,000 rows were imported after 16 days (2026-12-06); 20 days of clicks come first, a margin of four. 48 simulated
days; the demo's hostile writes (clicks and the capture corpus's impressions) every day, no scheduled fault.
Its wall time: docs/simulate.md, "The CI run with a champion".
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.local.cli import app
from infra.local.simulate import demo
from infra.local.stack import LocalStack

pytestmark = pytest.mark.integration

SECOND_FIRST = date(2026, 3, 1)
LEAD_DAYS = 20
READERS = 150


@pytest.mark.timeout(2400)  # 48 simulated days: 7.5 minutes at load 14 on 2 cores, over 10 at load 20
def test_a_second_training_is_judged_against_the_serving_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    window = demo.demo_window(SECOND_FIRST.replace(day=2), LEAD_DAYS)
    assert window == (date(2026, 1, 12), 48)
    monkeypatch.setattr(demo, "demo_window", lambda today: window)
    monkeypatch.setattr(demo, "DEMO_READERS", READERS)
    result = CliRunner().invoke(app, ["simulate", "--demo", "--state-dir", str(tmp_path)])
    out = result.output
    records = [json.loads(line) for line in (tmp_path / "run" / "ledger.jsonl").read_text().splitlines()]
    problems = [(r["day"], c) for r in records for c in r["checks"] if c["status"] == "violated"]
    assert result.exit_code == 0 and not problems, problems or out[-3000:]
    assert "48 days: 0 invariant violation(s)" in out
    # two monthly trainings: the first put a version in service, the second was decided against it
    trainings = [r["stages"]["training"] for r in records if "training" in r["stages"]]
    assert [t["name"] for t in trainings] == ["storyrec-20260201", "storyrec-20260301"], trainings
    first, second = trainings
    assert first["serving"] is None and (first["decision"] == "promote" or first["served_by_operator"]), first
    assert second["serving"] == first["candidate"], second  # judged against the serving version
    assert second["decision"] in ("promote", "keep"), second
    reasons = " ".join(second["reasons"])
    if second["decision"] == "promote":
        assert "rule 'better than serving'" in reasons, reasons
    else:
        assert "above the serving" in reasons or "(serving " in reasons, reasons
    # the decision as the product reported it, and how many readers its metrics rest on
    assert f"storyrec training: {second['decision']} {second['candidate'].rsplit('/', 1)[-1]}" in out
    flat = " ".join(out.split())
    for t in trainings:
        scored = t["metrics_readers"]
        assert 0 < scored["scored"] <= scored["eligible"] <= scored["readers"] and scored["rows"] >= 1000, scored
        assert f"Offline metrics on {scored['scored']} readers (10% of the {scored['eligible']} with 10+" in flat
    # personalized feeds once the first version served, and the lift table with the champion against control
    personalized = [r["stages"]["feeds"]["personalized"] for r in records if (r["stages"].get("feeds") or {})]
    assert max(personalized) > 0
    served = first["candidate"].rsplit("/", 1)[-1]
    assert "How to read the lift table" in out and f"test holdout-{served}" in out
    lift = json.loads((tmp_path / "run" / "lift.json").read_text())
    arms = {t["test"]: {a["arm"] for a in t["arms"]} for t in lift["tests"]}
    assert arms[f"holdout-{served}"] == {"champion", "control"} and "no test" in arms, arms
    assert re.search(r"^champion +\d+ +\d+ +\d+ ", out, re.MULTILINE)
    # the champion's test wrote exposure files, checked every night (hostile impressions counted nowhere)
    nights = {(r["day"], c["invariant"]): c for r in records for c in r["checks"]}
    exposure = nights[(records[-1]["day"], "impressions exported once")]
    assert exposure["status"] == "ok" and re.match(r"[1-9]\d* day\(s\) with a test", exposure["detail"]), exposure
    hostile = nights[(records[-1]["day"], "no hostile impression exported")]
    assert hostile["status"] == "ok" and not hostile["detail"].startswith("0 hostile"), hostile
    assert nights[(records[-1]["day"], "hostile impressions quarantined")]["status"] == "ok"
    assert all(state == "down" for state in LocalStack(tmp_path).status().values())
