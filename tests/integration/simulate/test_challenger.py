"""The online loop on the real local stack: a candidate admitted to the challenger test, served to its arm by
batch inference on the daily fill, counted from the exposure files, and promoted or retired by the monitor's
verdict, with zero invariant violations.

The champion's run (``test_champion.py``) shows a second training judged offline against the serving version;
whether it wins depends on the data, so it cannot be relied on to reach a challenger. Here the second version
takes the simulation's ``version_overrated`` fault (every metric reported as 1.0): the offline rule admits it
whatever it really scored, and in promotion mode ``online`` only the readers decide. The window is the
champion test's (January 12 to March 1 2026: two monthly trainings, 150 readers), plus the test's days. The
test's thresholds are lowered to fit 150 readers (``STORYREC_EXPERIMENT_*``): at least 10 exposed readers an
arm, a verdict after 2 to 3 days (production: 200, 7 and 28).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from infra.local.simulate.run import SimConfig, run_simulation
from infra.local.stack import LocalStack

pytestmark = pytest.mark.integration

START = date(2026, 1, 12)
SECOND_TRAINING = date(2026, 3, 1)
MAX_DAYS = 3
ARM_DAY = 30  # between the two trainings (Feb 1 is day 20, Mar 1 day 48): the second version takes it


@pytest.mark.timeout(2700)  # 53 simulated days at 150 readers: 688 s measured at load 8-11 on 2 cores
def test_an_overrated_candidate_is_judged_by_the_readers(tmp_path: Path) -> None:
    plan = tmp_path / "faults.json"
    plan.write_text(json.dumps({
        "hostile_per_day": 2,
        "hostile_impressions_per_day": 2,
        "faults": [{"day": ARM_DAY, "kind": "version_overrated"}],
    }))
    days = (SECOND_TRAINING - START).days + MAX_DAYS + 2  # the test's days, and the night its verdict falls
    config = SimConfig(
        days=days,
        readers=150,
        seed=0,
        state_dir=tmp_path,
        start=START,
        faults=plan,
        promotion="online",
        control_share=0.2,
        challenger_share=0.3,
        env={
            "STORYREC_EXPERIMENT_MIN_USERS": "10",
            "STORYREC_EXPERIMENT_MIN_DAYS": "2",
            "STORYREC_EXPERIMENT_MAX_DAYS": str(MAX_DAYS),
        },
    )
    result = run_simulation(config, log=lambda _: None)
    records = [json.loads(line) for line in result.ledger.read_text().splitlines()]
    problems = [(r["day"], c) for r in records for c in r["checks"] if c["status"] == "violated"]
    assert result.violations == 0 and not problems, problems
    # two trainings: the first promoted (nothing served), the second took the fault and went to the test
    trainings = [r["stages"]["training"] for r in records if "training" in r["stages"]]
    assert [t["name"] for t in trainings] == ["storyrec-20260201", "storyrec-20260301"], trainings
    first, second = trainings
    assert first["decision"] == "promote" and first["serving"] is None, first
    assert second.get("faults_taken") == ["version_overrated"], second
    assert second["decision"] == "test" and second["serving"] == first["candidate"], second
    assert any("admitted to the challenger test" in why for why in second["reasons"]), second["reasons"]
    candidate = second["candidate"].rsplit("/", 1)[-1]
    champion = first["candidate"].rsplit("/", 1)[-1]
    # the fill served the challenger arm (batch inference of the candidate), and readers saw and clicked it
    lift = json.loads((tmp_path / "run" / "lift.json").read_text())
    tests = {t["test"]: {a["arm"]: a for a in t["arms"]} for t in lift["tests"]}
    arms = tests[f"test-{candidate}-vs-{champion}"]
    assert set(arms) == {"champion", "challenger", "control"}, arms
    assert all(arms[a]["readers"] >= 10 and arms[a]["impressions"] > 0 for a in arms), arms
    # the monitor's verdict came within the test's days: promoted or retired, as a decision record says
    totals = records[-1]["totals"]
    verdicts = [t for t in totals["online_tests"] if t.get("experiment_id") == f"test-{candidate}-vs-{champion}"]
    assert verdicts and verdicts[-1]["action"] in ("promote", "retire"), totals["online_tests"]
    assert 2 <= verdicts[-1]["days"] <= MAX_DAYS, verdicts[-1]
    decided = [t for t in totals["online_tests"] if t.get("version") == candidate]
    assert [d["decision"] for d in decided][-1] == verdicts[-1]["action"], decided
    # after the verdict the fill serves no challenger: the last night's feeds are the holdout of what now serves
    serving = candidate if verdicts[-1]["action"] == "promote" else champion
    last_fill = records[-1]["stages"]["feeds"]
    assert last_fill["experiment_id"] == f"holdout-{serving}" and "challenger" not in last_fill["arms"], last_fill
    assert all(state == "down" for state in LocalStack(tmp_path).status().values())
