"""The monitor's and the importer's rules on an in-memory port: alert once, stuck, manual mode, guards."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.memory import InMemoryObjectStore, RecordingMetrics, RecordingNotifier
from shared.config import Settings
from shared.personalize.held import HeldDay, HeldDays
from shared.personalize.imports import import_manifest
from shared.personalize.model import CampaignUpdate, Status
from shared.personalize.monitor import monitor
from shared.personalize.promotion import Evidence, Policy, decide
from shared.personalize.stage import StageDeps
from shared.personalize.training import train
from tests.unit.aws.fakes import FakePersonalize

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
P = "normalized_discounted_cumulative_gain_at_10"
GOOD = {P: 0.30, "coverage": 0.4, "mean_reciprocal_rank_at_25": 0.2, "precision_at_10": 0.05}


def _deps(env: dict[str, str] | None = None) -> tuple[StageDeps, FakePersonalize, RecordingNotifier, list[datetime]]:
    clock = [NOW]
    port = FakePersonalize(NOW)
    notifier = RecordingNotifier()
    settings = Settings.from_env({"STORYREC_GCP_PROJECT": "p", "STORYREC_MIN_INCREMENTAL_ROWS": "1", **(env or {})})
    deps = StageDeps(port, InMemoryObjectStore("b"), notifier, RecordingMetrics(), lambda: clock[0], settings)
    return deps, port, notifier, clock


def _trained(deps: StageDeps, port: FakePersonalize, main: dict[str, float], base: dict[str, float]) -> tuple[str, str]:
    run = train(deps, "storyrec-20261201")
    port.set_version(run.versions["main"], Status.ACTIVE, main)
    port.set_version(run.versions["baseline"], Status.ACTIVE, base)
    return run.versions["main"], run.versions["baseline"]


def test_decide_needs_the_margin_the_baseline_and_every_guard() -> None:
    policy, base = Policy(), {P: 0.1}
    assert decide(Evidence(GOOD, base), policy).action == "promote"
    assert decide(Evidence(GOOD, {P: 0.31}), policy).action == "hold"  # nothing serves: an operator decides
    assert decide(Evidence({**GOOD, P: 0.302}, base, "v0", GOOD), policy).action == "keep"  # +0.7% < 1%
    assert decide(Evidence({**GOOD, P: 0.31}, base, "v0", GOOD), policy).action == "promote"
    worse_guard = {**GOOD, P: 0.4, "coverage": 0.3}  # coverage -25% > 5% tolerance
    decision = decide(Evidence(worse_guard, base, "v0", GOOD), policy)
    assert decision.action == "keep" and "coverage" in decision.reasons[0]
    assert decide(Evidence({**GOOD, P: 0.4}, base, "v0", GOOD), replace(policy, auto=False)).action == "hold"
    assert decide(Evidence({"coverage": 1.0}, base, "v0", GOOD), policy).action == "hold"  # no primary metric
    assert decide(Evidence({**GOOD, P: 0.0}, {P: 0.0}, "v0", {**GOOD, P: 0.0}), policy).action == "keep"  # no gain


def test_first_version_creates_the_campaign_then_a_better_one_updates_it_once() -> None:
    deps, port, notifier, _ = _deps()
    first, _ = _trained(deps, port, GOOD, {P: 0.1})
    assert monitor(deps).decision["action"] == "promote"  # type: ignore[index]
    [campaign] = port.campaigns.values()
    assert campaign.solution_version_arn == first
    second, _ = _trained(deps, port, {**GOOD, P: 0.5}, {P: 0.1})
    report = monitor(deps)
    assert report.decision and report.decision["action"] == "promote"
    assert port.updates == [(campaign.arn, second)]
    assert monitor(deps).decision is None and port.updates == [(campaign.arn, second)]
    reports = [s for s, _, _ in notifier.sent if s.startswith("storyrec training")]
    assert len(reports) == 2


def test_manual_mode_holds_a_better_version_and_reports_the_command() -> None:
    deps, port, notifier, _ = _deps({"STORYREC_PROMOTION_MODE": "manual"})
    port.ensure_campaign("storyrec-feed", "old", 1)
    port.metrics["old"] = GOOD
    deps.state.record_decision("old", {"action": "promote", "metrics": {"candidate": GOOD}})  # promoted earlier
    version, _ = _trained(deps, port, {**GOOD, P: 0.5}, {P: 0.1})
    decision = monitor(deps).decision
    assert decision and decision["action"] == "hold" and port.updates == []
    [(_subject, message, _)] = notifier.sent
    assert f"--solution-version-arn {version}" in message and "aws personalize update-campaign" in message
    history = deps.state.decision_for(version) or {}
    assert history["metrics"]["candidate"][P] == 0.5 and history["metrics"]["serving"] == GOOD


def test_a_failed_and_a_stuck_version_and_a_failed_campaign_update_alert_once_each() -> None:
    deps, port, notifier, clock = _deps({"STORYREC_TRAINING_STUCK_HOURS": "6"})
    campaign = port.ensure_campaign("storyrec-feed", "old", 1)
    port.metrics["old"] = GOOD
    run = train(deps, "storyrec-20261201")
    port.set_version(run.versions["main"], Status.CREATE_FAILED, reason="Not enough interactions")
    monitor(deps)
    monitor(deps)
    clock[0] = NOW + timedelta(hours=7)  # the baseline has been training for 7 hours
    port.campaigns[campaign] = replace(
        port.campaigns[campaign], latest_update=CampaignUpdate("v9", Status.UPDATE_FAILED, "model too large", NOW)
    )
    first, again = monitor(deps), monitor(deps)
    subjects = sorted(s for s, _, _ in notifier.sent)
    assert subjects == ["storyrec campaign update failed", "storyrec training failed", "storyrec training stuck"]
    assert again.alerts == [] and len(first.alerts) == 2
    assert "Not enough interactions" in next(m for s, m, _ in notifier.sent if s == "storyrec training failed")


def test_training_waits_for_pending_imports_and_the_monitor_starts_it_later() -> None:
    deps, port, _, _ = _deps()
    from shared.personalize.model import ImportRequest
    from shared.personalize.stage import ensure_datasets

    datasets = ensure_datasets(deps)
    port.start_import(ImportRequest("j1", datasets.by_type["interactions"], "s3://b/k", "INCREMENTAL"))
    run = train(deps, "storyrec-20261201")
    assert run.deferred and deps.state.training_request() == "storyrec-20261201"
    assert monitor(deps).training is None
    port.jobs[datasets.by_type["interactions"]][0] = replace(
        port.jobs[datasets.by_type["interactions"]][0], status=Status.ACTIVE
    )
    report = monitor(deps)
    assert report.training and report.training.deferred is None and deps.state.training_request() is None


def _held(deps: StageDeps) -> list[HeldDay]:
    return HeldDays(deps.bucket, deps.settings.aws_stage.state_prefix).days()[0]


def _manifest(deps: StageDeps, day: str, items_rows: int, run: str) -> str:
    bucket = deps.bucket
    files = {}
    for t in ("interactions", "items", "users"):
        key = f"{t}/dt={day}/part-00000.csv"
        rows = items_rows if t == "items" else 5
        body = b"H\n" + b"r\n" * rows
        if rows:
            bucket.put_bytes(key, body)
        files[t] = {
            "import_mode": "INCREMENTAL" if t == "interactions" else "FULL",
            "schema_version": "1.0",
            "columns": ["H"],
            "rows": rows,
            "rejected": {},
            "files": [{"key": key, "rows": rows, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}]
            if rows
            else [],
        }
    key = f"manifests/dt={day}/manifest.json"
    bucket.put_bytes(
        key,
        json.dumps(
            {"format_version": "1", "run_id": run, "date": day, "time_zone": "UTC", "window": {}, "datasets": files}
        ).encode(),
    )
    return key


def test_an_empty_full_snapshot_is_refused_with_one_alert_and_nothing_imported() -> None:
    deps, port, notifier, _ = _deps()
    key = _manifest(deps, "2026-11-28", 0, "r1")
    first, again = import_manifest(key, deps), import_manifest(key, deps)
    assert first.started == [] and "delete every record" in first.skipped["*"]
    assert again.started == [] and len(notifier.sent) == 1
    assert all(not jobs for jobs in port.jobs.values())


def test_an_older_snapshot_arriving_late_does_not_replace_a_newer_one() -> None:
    deps, _port, _, _ = _deps()
    newer = import_manifest(_manifest(deps, "2026-11-29", 3, "r2"), deps)
    older = import_manifest(_manifest(deps, "2026-11-28", 3, "r1"), deps)
    assert len(newer.started) == 3
    assert [n for n in older.started if n.startswith("interactions")] == older.started  # deltas still import
    assert sorted(older.skipped.values()) == ["a later snapshot was already imported"] * 2


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b'{"format_version": "9"}',
        b"\xff\xfe",
        b'{"format_version": "1", "run_id": "r", "date": "2026-13-01", "datasets": {}}',
    ],
)
def test_a_malformed_manifest_is_refused_with_one_alert(raw: bytes) -> None:
    deps, _, notifier, _ = _deps()
    deps.bucket.put_bytes("manifests/dt=2026-11-28/manifest.json", raw)
    outcome = import_manifest("manifests/dt=2026-11-28/manifest.json", deps)
    import_manifest("manifests/dt=2026-11-28/manifest.json", deps)
    assert outcome.started == [] and "*" in outcome.skipped and len(notifier.sent) == 1


def test_the_manifest_reader_reads_what_the_export_writes() -> None:
    from shared.export.job import build_manifest
    from shared.export.window import Window
    from shared.manifest import ManifestDataset, ManifestFile, is_manifest_key, parse_manifest

    window = Window(NOW - timedelta(days=1), NOW)
    raw = build_manifest(
        "export-20261130-abc",
        NOW.date(),
        "UTC",
        window,
        [
            ManifestDataset(
                "interactions",
                "INCREMENTAL",
                "1.0",
                ("USER_ID",),
                (ManifestFile("p/interactions/dt=2026-12-01/part-00000.csv", 3, 30, "0" * 64),),
                {"bad": 1},
            )
        ],
    )
    manifest = parse_manifest(raw)
    assert manifest.run_id == "export-20261130-abc" and manifest.datasets[0].rows == 3
    assert is_manifest_key("p/manifests/dt=2026-12-01/manifest.json", "p/")
    assert not is_manifest_key("p/interactions/dt=2026-12-01/part-00000.csv", "p/")
    assert not is_manifest_key("manifests/dt=2026-12-01/manifest.json.tmp")


def test_small_daily_deltas_are_held_then_imported_together_once_they_reach_the_minimum() -> None:
    deps, port, _, _ = _deps({"STORYREC_MIN_INCREMENTAL_ROWS": "8"})
    first = import_manifest(_manifest(deps, "2026-11-27", 3, "r1"), deps)  # 5 interactions < 8: held
    assert not [n for n in first.started if n.startswith("interactions")] and "held" in first.skipped["interactions"]
    second_key = _manifest(deps, "2026-11-28", 3, "r2")
    second = import_manifest(second_key, deps)  # 5 + 5 >= 8: one combined job
    [combined] = [n for n in second.started if n.startswith("interactions")]
    assert combined.endswith("-900") and _held(deps) == []
    job = next(j for js in port.jobs.values() for j in js if j.name == combined)
    assert job.import_mode == "INCREMENTAL"
    location = next(k.key for k in deps.bucket.list("storyrec-state/held/"))
    body = deps.bucket.get_bytes(location).decode()
    assert body.count("H\n") == 1 and body.count("r\n") == 10  # one header, both days' rows
    again = import_manifest(second_key, deps)  # a repeated event: nothing new, nothing held twice
    assert not [n for n in again.started if n.startswith("interactions")] and _held(deps) == []


def test_the_monitor_imports_a_recent_manifest_whose_event_was_lost_and_only_once() -> None:
    deps, port, _, clock = _deps()
    clock[0] = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    lost = _manifest(deps, "2026-11-28", 3, "r-lost")
    old = _manifest(deps, "2026-11-01", 3, "r-old")  # older than the catch-up window: left alone
    first = monitor(deps)
    assert [o.manifest_key for o in first.redriven] == [lost] and len(first.redriven[0].started) == 3
    assert monitor(deps).redriven == []  # handled: not imported again
    assert not deps.state.is_handled(old)
    assert sum(len(js) for js in port.jobs.values()) == 3
