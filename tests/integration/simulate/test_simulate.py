"""A short simulation on the real local stack with the default fault plan: zero invariant violations."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from infra.local.simulate.faults import DEFAULT_PLAN, KINDS, NOT_IN_DEFAULT_PLAN
from infra.local.simulate.run import SimConfig, run_simulation
from infra.local.stack import LocalStack

pytestmark = pytest.mark.integration

EVERY_DAY = {
    "clicks captured",
    "hostile clicks quarantined",
    "hostile impressions quarantined",
    "ml_interactions match the ground truth",
    "one alert per injected fault",
    "no alert without a fault",
    "stories and readers captured",
    "new readers have a first feed",
}
EVERY_NIGHT = EVERY_DAY | {
    "clicks exported exactly once",
    "nothing hostile exported",
    "clicks imported exactly once",
    "served version valid and not worse",
    "active readers have a fresh feed",
    "no deleted story in a feed",
    "no already-read story in a feed",
    "impressions captured",
    "clicks carry their list's attribution and impression",
    "impressions exported once",
    "exposure counted in the arm the reader saw",
    "no hostile impression exported",
    "expired held days reported",
}


def ci_plan(tmp_path: Path) -> Path:
    """The default plan with its version faults armed in the first five days (the default arms them from day 62):
    the training of day 2 takes the failure; the metric faults stay armed (no version trains that far here)."""
    plan = json.loads(DEFAULT_PLAN.read_text())
    days = {"version_fails": 2, "version_metrics_missing": 3, "version_worse": 4}
    plan["faults"] = [{**f, "day": days.get(f["kind"], f["day"])} for f in plan["faults"]]
    path = tmp_path / "ci-faults.json"
    path.write_text(json.dumps(plan))
    return path


def test_five_days_with_every_default_fault_end_with_no_violation(tmp_path: Path) -> None:
    # the 1st of last month falls on day 2 (the run stays in the past of the engine's real clock): the monthly
    # training runs, on too little data, so its versions fail and alert
    first = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    # held days combine past 80 rows (not 1,000), so a five-day run imports them and meets an expired one
    env = {"STORYREC_MIN_INCREMENTAL_ROWS": "80"}
    config = SimConfig(
        days=5,
        readers=50,
        seed=0,
        state_dir=tmp_path,
        start=first - timedelta(days=2),
        env=env,
        faults=ci_plan(tmp_path),
    )
    result = run_simulation(config, log=lambda _: None)
    records = [json.loads(line) for line in result.ledger.read_text().splitlines()]
    problems = [(r["day"], c) for r in records for c in r["checks"] if c["status"] == "violated"]
    assert result.violations == 0, problems
    assert [r["day"] for r in records] == list(range(6)) and records[-1]["final"]
    assert {c["invariant"] for c in records[0]["checks"]} == EVERY_DAY
    for record in records[1:-1]:
        assert {c["invariant"] for c in record["checks"]} == EVERY_NIGHT, record["day"]
    final = (EVERY_NIGHT - {"new readers have a first feed"}) | {"version faults took effect", "dataset release"}
    assert {c["invariant"] for c in records[-1]["checks"]} == final
    assert {f for r in records for f in r["faults"]} == set(KINDS) - set(NOT_IN_DEFAULT_PLAN)  # each default fault
    # the faults did what they say: a redelivered export, a dropped event caught up, a story withdrawn
    stages = {r["day"]: r["stages"] for r in records}
    assert "first_delivery" in stages[3]["export"] and stages[2]["import"]["events"] == "dropped"
    assert stages[2]["feeds"]["withdrawn"] >= 1
    assert stages[2]["training"]["name"] == f"storyrec-{first:%Y%m%d}" and stages[2]["training"]["failed"]
    assert "raised" in stages[2]["training"]["first_delivery"]  # the engine was down for the first delivery
    assert "raised" in stages[1]["feeds"]["first_delivery"]  # Firestore down: the scheduler's retry filled
    # SNS down while no campaign exists: the fill does not degrade (popular feeds, no alert), so nothing failed
    assert stages[3]["feeds"]["first_delivery"].startswith("returned") and stages[3]["feeds"]["no_campaign"]
    assert "redelivered" in stages[3]["capture_firestore_down"][0]
    # a story's and a user's capture, and a new reader's first feed, met Firestore down and their retries delivered
    # them once (checked by "stories and readers captured" and "new readers have a first feed")
    assert stages[1]["capture_firestore_down"][0].startswith("capture_story ")
    assert stages[4]["capture_firestore_down"][0].startswith("capture_user ")
    assert all("; redelivered" in stages[d]["capture_firestore_down"][0] for d in (1, 4))
    assert stages[2]["first_feed_firestore_down"].endswith("; redelivered")
    # SNS down with S3 for the export's first delivery: its failure alert was kept and sent by the redelivery, once
    assert "raised" in stages[3]["export"]["first_delivery"]["s3_down_export"]
    assert len([a for a in records[3]["alerts"] if "export failed" in a]) == 1
    # SNS down in the AWS stage: the pass that alerted on the failed versions raised, the next one sent each once
    assert stages[2]["sns_down_aws"] and all("raised" in x for x in stages[2]["sns_down_aws"])
    failed_alerts = [a for a in records[2]["alerts"] if "training failed" in a]
    assert len(failed_alerts) == len(stages[2]["training"]["failed"]), failed_alerts  # one per failed version
    # the expired held day was reported lost once, by name, re-exported by the operator and held again
    expired = stages[2]["held_expired"]["day"]
    lost = [a for r in records for a in r["alerts"] if "held interactions lost" in a]
    assert lost == [f"storyrec held interactions lost: {expired}"], lost
    assert [x["date"] for s in stages.values() for x in s.get("operator_reexported", [])] == [expired]
    assert [c["status"] for c in records[-1]["checks"] if c["invariant"] == "expired held days reported"] == ["ok"]
    # the readers clicked, hostile clients wrote, and the oracle bounds the feeds
    assert sum(s["day"]["clicks"] for d, s in stages.items() if d < 5) > 50
    # hostile impressions (the capture corpus's cases, 4 a day) each quarantined with the corpus's reason
    assert all(s["day"]["hostile_impressions"] == 4 for d, s in stages.items() if d < 5)
    quarantined = [c for c in records[-1]["checks"] if c["invariant"] == "hostile impressions quarantined"]
    assert quarantined[0]["detail"].startswith("20 hostile impressions (20 corpus cases): 20 quarantined"), quarantined
    assert all(s["quality"]["oracle"] >= s["quality"]["feed"] for d, s in stages.items() if d >= 1)
    # impressions and attributed clicks (docs/client.md) went through capture into the export; with nothing
    # serving there is no test: every feed is popular, attributed to storyrec-popular, and the lift table says so
    checks = {(r["day"], c["invariant"]): c for r in records for c in r["checks"]}
    feed_impressions = [re.search(r"\((\d+) of a feed", checks[(d, "impressions captured")]["detail"]) for d in (1, 5)]
    assert all(m and int(m.group(1)) > 0 for m in feed_impressions)
    attributed = checks[(5, "clicks carry their list's attribution and impression")]["detail"]
    assert re.fullmatch(r"[1-9]\d* feed and [1-9]\d* latest-list clicks exported", attributed), attributed
    lift = json.loads((tmp_path / "run" / "lift.json").read_text())
    assert lift == records[-1]["totals"]["lift"] and [t["test"] for t in lift["tests"]] == ["no test"]
    (champion,) = lift["tests"][0]["arms"]
    assert champion["arm"] == "champion" and champion["readers"] > 10 and champion["impressions"] > champion["clicks"]
    per = champion["clicks_per_reader"]
    assert 0 <= per["low"] < per["value"] < per["high"]
    expected = champion["expected_clicks_per_look"]
    assert expected["looks"] > 0 and 0 <= expected["served"] <= expected["oracle"]
    # the version failure was taken by day 2's training and alerted once (its baseline failed for want of data)
    assert stages[2]["training"]["faults_taken"] == ["version_fails"]
    assert "Injected fault" in stages[2]["training"]["failed"]["main"]
    # nothing was left unchecked but the metric faults no version trained far enough to take (named, not passed)
    unchecked = [(r["day"], c["invariant"]) for r in records for c in r["checks"] if c["status"] != "ok"]
    assert unchecked == [(5, "version faults took effect")], unchecked
    assert result.not_checked == 1
    # the operator's release at the end: written, and checked against the ground truth ("dataset release")
    assert stages[5]["release"]["exit"] == 0 and (tmp_path / "run" / "release" / "release.json").exists()
    # the operator's report shows the failed training (from Personalize: no decision names it), the alerts and
    # each morning's fill (docs/operate.md)
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    versions = page.split('data-section="solutions"')[1].split("</section>")[0]
    assert ">failed<" in versions and "Injected fault" in versions
    for plot in ("alerts-per-day", "imports-per-day", "feeds-per-day", "expected-clicks-per-day"):
        assert f'data-plot="{plot}"' in page, plot
    assert all(state == "down" for state in LocalStack(tmp_path).status().values())
