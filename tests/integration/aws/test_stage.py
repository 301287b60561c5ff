"""The AWS stage end to end: the real handlers (through their Powertools decorators), moto and the engine."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest

from shared.retry import wait_until
from tests.integration.aws.conftest import DAY, Stage, settle

pytestmark = pytest.mark.integration


def _jobs(stage: Stage) -> dict[str, Any]:
    from shared.personalize.stage import ensure_datasets

    datasets = ensure_datasets(stage.deps)
    return {j.name: j for arn in datasets.by_type.values() for j in stage.deps.personalize.list_import_jobs(arn)}


def test_a_manifest_event_becomes_active_imports_and_a_repeat_imports_nothing(stage: Stage, handlers: Any) -> None:
    key = stage.put_export()
    first = handlers.imports(key)
    [result] = first["manifests"]
    assert len(result["started"]) == 3 and result["parked"] is None
    again = handlers.imports(key)  # S3 delivers at least once
    assert again["manifests"][0]["started"] == [] and sorted(again["manifests"][0]["existing"]) == sorted(
        result["started"]
    )
    settle(stage)
    jobs = _jobs(stage)
    assert sorted(jobs) == sorted(result["started"])
    assert {j.status.value for j in jobs.values()} == {"ACTIVE"}
    modes = {j.name.split("-")[0]: j.import_mode for j in jobs.values()}
    assert modes == {"interactions": "INCREMENTAL", "items": "FULL", "users": "FULL"}
    # a CSV part (not the manifest) and a foreign bucket are ignored
    part = handlers.imports(key.replace("manifests", "interactions").replace("manifest.json", "part-00000.csv"))
    assert part["manifests"] == []


def test_a_full_pending_quota_parks_and_the_monitor_starts_the_rest(
    stage: Stage, handlers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYREC_MAX_PENDING_IMPORTS", "1")
    key = stage.put_export()
    [result] = handlers.imports(key)["manifests"]
    assert len(result["started"]) == 1 and result["parked"]
    summary: dict[str, Any] = {}
    for _ in range(100):
        summary = handlers.monitor()
        if not stage.deps.state.parked_imports():
            break
    assert not stage.deps.state.parked_imports(), summary
    settle(stage)
    assert len(_jobs(stage)) == 3 and all(j.status.value == "ACTIVE" for j in _jobs(stage).values())


def test_a_failed_import_alerts_exactly_once_with_its_reason(stage: Stage, handlers: Any) -> None:
    key = stage.put_export()
    bad = key.replace("manifests", "interactions").replace("manifest.json", "part-00000.csv")
    body = stage.s3.get_object(Bucket=stage.settings.import_bucket, Key=bad)["Body"].read().decode()
    lines = body.splitlines()
    lines[1] = lines[1].replace(lines[1].split(",")[2], "not-a-time")
    broken = ("\n".join(lines) + "\n").encode()
    stage.s3.put_object(Bucket=stage.settings.import_bucket, Key=bad, Body=broken)
    manifest = json.loads(stage.s3.get_object(Bucket=stage.settings.import_bucket, Key=key)["Body"].read())
    manifest["datasets"]["interactions"]["files"][0]["bytes"] = len(broken)
    manifest["datasets"]["interactions"]["files"][0]["sha256"] = hashlib.sha256(broken).hexdigest()
    stage.s3.put_object(Bucket=stage.settings.import_bucket, Key=key, Body=json.dumps(manifest).encode())
    handlers.imports(key)
    settle(stage)
    first, second = handlers.monitor(), handlers.monitor()
    assert len([a for a in first["alerts"] if a.startswith("import-failed:")]) == 1
    assert second["alerts"] == []
    messages = [m for m in stage.probe.drain() if "import failed" in m["Subject"]]
    assert len(messages) == 1 and "Reason:" in messages[0]["Message"]
    assert "TIMESTAMP" in messages[0]["Message"] or "not-a-time" in messages[0]["Message"]


def _decide(stage: Stage, handlers: Any, time: str) -> dict[str, Any]:
    train = handlers.train(time)
    assert train["deferred"] is None, train
    summary = wait_until(
        handlers.monitor, lambda s: s["decision"] is not None, timeout=240, interval=0.5, what="decision"
    )
    decision = stage.deps.state.decision_for(train["versions"]["main"])
    assert decision is not None and decision["action"] == summary["decision"]
    return decision


def _campaign_settled(stage: Stage) -> Any:
    from shared.personalize.stage import campaign_arn

    arn = campaign_arn(stage.deps)
    assert arn
    return wait_until(
        lambda: stage.deps.personalize.describe_campaign(arn),
        lambda c: c.status.value == "ACTIVE" and not (c.latest_update and c.latest_update.status.pending),
        timeout=120,
        interval=0.2,
        what="campaign",
    )


def test_a_better_version_is_promoted_and_a_worse_one_is_not(stage: Stage, handlers: Any) -> None:
    # day 1: random clicks; its version serves first (nothing served before, so it is promoted if it beats popularity,
    # else it is held and an operator promotes it: either way a campaign ends up serving the noise-trained version,
    # with its metrics recorded for the next comparison)
    from shared.operate.promote import promote_by_hand

    handlers.imports(stage.put_export(DAY - timedelta(days=2), seed=-1, run_suffix="noise1"))
    settle(stage)
    first = _decide(stage, handlers, "2026-10-01T03:00:00Z")
    if first["action"] != "promote":
        assert first["action"] == "hold", first
        promote_by_hand(stage.deps, first["candidate"])
    assert _campaign_settled(stage).solution_version_arn == first["candidate"]

    # day 2: a large day of clicks that follow the users' tastes → the new version is better → promoted
    handlers.imports(stage.put_export(DAY - timedelta(days=1), per_user=60, seed=3, run_suffix="taste"))
    settle(stage)
    better = _decide(stage, handlers, "2026-11-01T03:00:00Z")
    primary = "normalized_discounted_cumulative_gain_at_10"
    assert better["action"] == "promote", better["reasons"]
    assert better["metrics"]["candidate"][primary] > better["metrics"]["serving"][primary]
    assert _campaign_settled(stage).solution_version_arn == better["candidate"]

    # day 3: a large day of random clicks → the new version is worse → the campaign keeps serving day 2's
    handlers.imports(stage.put_export(DAY, per_user=60, seed=-5, run_suffix="noise2"))
    settle(stage)
    worse = _decide(stage, handlers, "2026-12-01T03:00:00Z")
    assert worse["action"] == "keep", worse
    assert _campaign_settled(stage).solution_version_arn == better["candidate"]

    # every decision is in the S3 history, with all metrics; each was reported once over SNS
    history = stage.deps.state.decisions()
    assert [d["candidate"] for d in history] == [first["candidate"], better["candidate"], worse["candidate"]]
    assert all(set(d["metrics"]) == {"candidate", "serving", "baseline"} for d in history)
    reports = [m for m in stage.probe.drain() if m["Subject"].startswith("storyrec training")]
    assert len(reports) == 3 + (first["action"] == "hold")  # a hold, then the operator's promotion, each reported
    assert "aws personalize update-campaign" in reports[-1]["Message"] and "baseline" in reports[-1]["Message"]
    assert handlers.monitor()["decision"] is None  # decided once


def test_the_engines_limit_exceeded_parks_the_manifest_and_nothing_is_dropped(stage: Stage, handlers: Any) -> None:
    """Five imports of another dataset group fill the engine's pending quota (5 per region) while its worker
    is held busy (as a loaded Personalize would be); the manifest is parked, then imported by the monitor."""
    import threading

    from shared.personalize.model import ImportRequest
    from shared.personalize.stage import ensure_datasets
    from shared.schema import load_schema

    port = stage.deps.personalize
    ensure_datasets(stage.deps)
    group = port.ensure_dataset_group(f"busy-{stage.settings.personalize.dataset_group}")
    schema = load_schema("interactions")
    dataset = port.ensure_dataset(
        group,
        "interactions",
        port.ensure_schema(schema.resource_name, schema.as_json()),
        f"busy-{stage.settings.personalize.dataset_group}",
    )
    wait_until(lambda: port.dataset_status(dataset), lambda s: s.value == "ACTIVE", timeout=30, interval=0.1)
    stage.s3.put_object(
        Bucket=stage.settings.import_bucket,
        Key="busy/one.csv",
        Body=(",".join(schema.header) + "\nu1,i1,1700000000,read,,web\n").encode(),
    )
    gate = threading.Event()
    stage.engine.engine.worker.submit(gate.wait)  # the engine's single worker thread is busy until the gate opens
    try:
        for n in range(5):
            port.start_import(
                ImportRequest(
                    f"busy-{stage.settings.personalize.dataset_group}-{n}",
                    dataset,
                    f"s3://{stage.settings.import_bucket}/busy/one.csv",
                    "INCREMENTAL",
                )
            )
        key = stage.put_export()
        [result] = handlers.imports(key)["manifests"]
        assert result["parked"] and "LimitExceeded" in result["parked"], result
        assert stage.deps.state.parked_imports() == [key]
        assert handlers.monitor()["redriven"] == [key] and stage.deps.state.parked_imports() == [key]
    finally:
        gate.set()
    wait_until(
        lambda: (handlers.monitor(), stage.deps.state.parked_imports())[1],
        lambda p: p == [],
        timeout=180,
        interval=0.5,
        what="parked manifest",
    )
    settle(stage)
    jobs = _jobs(stage)
    assert len(jobs) == 3 and all(j.status.value == "ACTIVE" for j in jobs.values())


def test_a_version_trained_on_too_little_data_alerts_exactly_once_with_its_reason(stage: Stage, handlers: Any) -> None:
    """20 users are fewer than Personalize's 25 with two interactions: the engine fails the version, as Amazon does."""
    handlers.imports(stage.put_export(users=20, per_user=60))
    settle(stage)
    train = handlers.train("2026-11-01T03:00:00Z")
    assert train["deferred"] is None, train
    failed: set[str] = set()

    def both_failed() -> bool:
        failed.update(a for a in handlers.monitor()["alerts"] if a.startswith("version-failed:"))
        return len(failed) == 2  # the serving solution's version and the popularity baseline's

    wait_until(both_failed, bool, timeout=240, interval=0.5, what="failed versions")
    assert f"version-failed:{train['versions']['main']}" in failed
    assert [a for a in handlers.monitor()["alerts"] if a.startswith("version-failed:")] == []  # alerted once
    messages = [m for m in stage.probe.drain() if m["Subject"] == "storyrec training failed"]
    assert len(messages) == 2
    assert all("Insufficient data" in m["Message"] and "keeps serving" in m["Message"] for m in messages)
    assert handlers.monitor()["decision"] is None  # nothing to promote


def test_a_campaign_serving_a_version_whose_metrics_were_never_recorded_holds_with_one_report(
    stage: Stage, handlers: Any
) -> None:
    """The campaign was switched outside storyrec (to the baseline's version): its metrics were never recorded,
    so the monitor Lambda compares with nothing it could trust and holds, naming it, once; no UpdateCampaign."""
    handlers.imports(stage.put_export())
    settle(stage)
    train = handlers.train("2026-11-01T03:00:00Z")
    port, versions = stage.deps.personalize, train["versions"]
    for arn in versions.values():
        wait_until(
            lambda arn=arn: port.describe_solution_version(arn).status.value,
            lambda status: status == "ACTIVE",
            timeout=240,
            interval=0.5,
            max_interval=2.0,
            what="solution version",
        )
    port.ensure_campaign(stage.settings.personalize.campaign, versions["baseline"], 1)
    assert _campaign_settled(stage).solution_version_arn == versions["baseline"]
    assert handlers.monitor()["decision"] == "hold"
    decision = stage.deps.state.decision_for(versions["main"])
    assert decision and decision["invalid"] == [f"serving version {versions['baseline']}: no metrics"]
    assert handlers.monitor()["decision"] is None  # decided once
    reports = [m for m in stage.probe.drain() if m["Subject"].startswith("storyrec training")]
    assert len(reports) == 1 and reports[0]["Subject"].endswith("metrics missing or invalid")
    assert f"serving version {versions['baseline']}: no metrics" in reports[0]["Message"]
    assert _campaign_settled(stage).solution_version_arn == versions["baseline"]
